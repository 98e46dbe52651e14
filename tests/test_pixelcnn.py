"""`PixelCNN`: causality of every masked layer and of the whole network (no blind spot), the
condition's reach, a fit to a Markov chain whose entropy is known, the inverse-CDF sampling rule
against NumPy, the .keras round trip and ONNX parity of the exported prior."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae.core.errors import ConfigError, UserError
from keras_vae.models.vq.pixelcnn import GatedMaskedConv, MaskedConv2D, PixelCNN


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same weights (random inits otherwise vary between runs)."""
    keras.utils.set_random_seed(0)


H, W = 5, 6  # not square, so a swapped row / column shows


def influence(f, inputs, seed=0):
    """Which input positions reach each output position.

    f maps batched float inputs [B, h_k, w_k, C_k] to one output [B, H, W, D]. Returns, per
    input, a bool array [H * W, h_k * w_k]: [i, j] is True when the gradient of a random
    projection of output position i (raster order) wrt input position j is nonzero. One backward
    pass: example i of the batch (a copy of the same inputs) reads out only position i.
    """
    rng = np.random.default_rng(seed)
    positions = math.prod(f(*[x[None] for x in inputs]).shape[1:3])
    tiled = [tf.constant(np.repeat(x[None], positions, axis=0)) for x in inputs]
    with tf.GradientTape() as tape:
        tape.watch(tiled)
        y = f(*tiled)
        pick = tf.reshape(tf.eye(positions), (positions, *y.shape[1:3], 1))
        target = tf.reduce_sum(y * pick * rng.standard_normal(y.shape[-1]).astype(np.float32))
    grads = tape.gradient(target, tiled, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [np.abs(g.numpy()).sum(-1).reshape(positions, -1) > 0 for g in grads]


def field(rule, shape=(H, W)):
    """bool [positions, positions] from rule(r, c, r2, c2): may output (r, c) see input (r2, c2)."""
    cells = [divmod(i, shape[1]) for i in range(math.prod(shape))]
    return np.array([[rule(r, c, r2, c2) for r2, c2 in cells] for r, c in cells])


def vertical(k, mask_type):  # the rows above within the kernel ("B": and this row), all its columns
    last = 0 if mask_type == "B" else -1
    return lambda r, c, r2, c2: r - k // 2 <= r2 <= r + last and abs(c2 - c) <= k // 2


def horizontal(k, mask_type):  # this row, left within the kernel ("B": and this position)
    last = 0 if mask_type == "B" else -1
    return lambda r, c, r2, c2: r2 == r and c - k // 2 <= c2 <= c + last


def earlier(r, c, r2, c2):
    return (r2, c2) < (r, c)


@pytest.fixture
def x(rng):
    return rng.standard_normal((H, W, 4)).astype(np.float32)


@pytest.mark.parametrize("stack", ["vertical", "horizontal"])
@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("k", [3, 5])
def test_masked_conv_sees_exactly_its_causal_field(x, stack, mask_type, k):
    layer = MaskedConv2D(3, k if stack == "vertical" else (1, k), mask_type, stack)
    (seen,) = influence(layer, [x])
    expected = (vertical if stack == "vertical" else horizontal)(k, mask_type)
    np.testing.assert_array_equal(seen, field(expected))


def test_gated_layers_keep_the_stacks_causal(rng, x):
    """ "A" (the first layer, both stacks fed the embedding): the vertical output sees only the
    rows above, the horizontal one those and the positions to its left, never its own.
    "B": the vertical stack also reads its own row, and the horizontal one its own position and,
    through the link, the vertical features of its row; both are fine because after an "A" layer
    those features summarize earlier codes only (the whole-network test checks the composition)."""
    first = GatedMaskedConv(4, 3, "A")
    v_seen, h_seen = (influence(lambda t, i=i: first([t, t])[i], [x])[0] for i in (0, 1))
    np.testing.assert_array_equal(v_seen, field(vertical(3, "A")))
    either = lambda *p: vertical(3, "A")(*p) or horizontal(3, "A")(*p)  # noqa: E731
    np.testing.assert_array_equal(h_seen, field(either))
    assert not (h_seen | v_seen)[np.eye(H * W, dtype=bool)].any()

    later = GatedMaskedConv(4, 3, "B")
    h_in = rng.standard_normal(x.shape).astype(np.float32)
    (v_from_v, v_from_h), (h_from_v, h_from_h) = (
        influence(lambda v, h, i=i: later([v, h])[i], [x, h_in]) for i in (0, 1)
    )
    np.testing.assert_array_equal(v_from_v, field(vertical(3, "B")))
    assert not v_from_h.any()  # the horizontal stack never feeds the vertical one
    np.testing.assert_array_equal(h_from_v, field(vertical(3, "B")))
    np.testing.assert_array_equal(h_from_h, field(horizontal(3, "B")))


def embedded(network, *names):
    """The network from its embeddings' outputs (float, so gradients exist) to the logits."""
    model = keras.Model([network.get_layer(name).output for name in names], network.output)
    return lambda *floats: model(list(floats))


@pytest.mark.parametrize("layers", [2, 6])
def test_network_is_causal_in_raster_order_without_blind_spot(layers):
    """The logits at i never see codes at i or later. With L layers they see exactly the field
    the module docstring states: rows r - L .. r - 1 at columns c -+ L, and (r, c - L .. c - 1);
    with 6 layers that is every earlier position of a 7x7 grid (no blind spot)."""
    model = PixelCNN(grid_shape=(7, 7), num_codes=5, filters=8, num_layers=layers)
    # A ReLU that is off for one input hides a path; over a few random inputs every path shows.
    draws = [np.random.default_rng(seed).standard_normal((7, 7, 8)).astype(np.float32) for seed in range(4)]
    seen = np.logical_or.reduce([influence(embedded(model.network, "code_embedding"), [e])[0] for e in draws])

    def stated(r, c, r2, c2):
        return (r - layers <= r2 < r and abs(c2 - c) <= layers) or (r2 == r and c - layers <= c2 < c)

    np.testing.assert_array_equal(seen, field(stated, (7, 7)))
    assert not (seen & ~field(earlier, (7, 7))).any()
    if layers == 6:
        np.testing.assert_array_equal(seen, field(earlier, (7, 7)))


def test_condition_reaches_every_position_and_codes_stay_causal(rng):
    keras.utils.set_random_seed(0)  # a random init can leave a position's ReLU features equal for both conditions
    model = PixelCNN(grid_shape=(4, 6), num_codes=5, filters=8, num_layers=5, condition_shape=(2, 3), condition_codes=3)
    e, s = rng.standard_normal((4, 6, 8)).astype(np.float32), rng.standard_normal((2, 3, 8)).astype(np.float32)
    from_codes, from_condition = influence(embedded(model.network, "code_embedding", "condition_embedding"), [e, s])
    assert not (from_codes & ~field(earlier, (4, 6))).any()
    np.testing.assert_array_equal(from_codes, field(earlier, (4, 6)))
    cells = [(r // 2) * 3 + c // 2 for r in range(4) for c in range(6)]
    assert from_condition[np.arange(24), cells].all()  # each position sees the top code above it,
    assert from_condition[-1].all()  # and the last one every top code (the condition is given, not generated)

    codes = rng.integers(0, 5, (2, 4, 6)).astype(np.int32)
    a, b = (model.logits(codes, np.full((2, 2, 3), v, np.int32)).numpy() for v in (0, 2))
    assert np.abs(a - b).max(axis=-1).min() > 0  # integer conditions change every position's logits
    with pytest.raises(UserError, match="needs condition"):
        model.logits(codes)


@pytest.mark.parametrize(
    "bad",
    [
        dict(grid_shape=(7, 7), condition_shape=(2, 2), condition_codes=4),
        dict(kernel_size=4),
        dict(condition_shape=(7, 7)),
        dict(grid_shape=(7,)),
    ],
)
def test_bad_configs_say_why(bad):
    with pytest.raises(ConfigError):
        PixelCNN(**bad)


def markov_codes(rng, n, positions, k, stay):
    """n chains along raster order: c_0 uniform, then keep the code w.p. stay, else one of the
    k - 1 others uniformly. Returns codes [n, positions] and their exact log-probability [n]."""
    codes = np.empty((n, positions), np.int32)
    codes[:, 0] = rng.integers(0, k, n)
    for i in range(1, positions):
        moves = rng.integers(1, k, n) * (rng.uniform(size=n) > stay)
        codes[:, i] = (codes[:, i - 1] + moves) % k
    same = codes[:, 1:] == codes[:, :-1]
    log_p = -math.log(k) + np.where(same, math.log(stay), math.log((1 - stay) / (k - 1))).sum(1)
    return codes, log_p


def test_fits_a_markov_chain_to_its_entropy(rng):
    """Codes on a 3x3 grid form a Markov chain in raster order (the step from the end of a row to
    the next row's start included). Entropy = log K + 8 H(row); the marginals are uniform, so a
    model that ignores context scores 9 log K, 4.4 nats worse. After a few seconds of training the
    held-out NLL is within 0.1 nats of the entropy, and its excess over the true NLL of the same
    examples (a KL estimate, free of the sampling noise of the held-out mean) within 0.05."""
    k, stay, shape = 4, 0.75, (3, 3)
    positions = math.prod(shape)
    row = np.array([stay] + [(1 - stay) / (k - 1)] * (k - 1))
    entropy = math.log(k) + (positions - 1) * -(row * np.log(row)).sum()
    independent = positions * math.log(k)
    assert independent - entropy > 4  # the gap context must close

    train, _ = markov_codes(rng, 8192, positions, k, stay)
    test, test_log_p = markov_codes(rng, 8192, positions, k, stay)
    keras.utils.set_random_seed(0)
    # Two layers see a 3x3 grid's every earlier position (the step from (r, 2) to (r + 1, 0) too).
    model = PixelCNN(grid_shape=shape, num_codes=k, filters=16, num_layers=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), steps_per_execution=32)
    model.fit({"codes": train.reshape(-1, *shape)}, batch_size=128, epochs=2, verbose=0)  # 128 steps
    nll = model.loss_terms({"codes": test.reshape(-1, *shape)})["loss"].numpy()
    assert abs(-test_log_p.mean() - entropy) < 0.1  # the sampler: held-out noise is 0.03 nats (1 sd)
    assert abs(nll.mean() - entropy) < 0.1, (nll.mean(), entropy)
    assert (nll + test_log_p).mean() < 0.05, (nll + test_log_p).mean()


def numpy_inverse_cdf(model, uniforms, condition=None):
    """The documented sampling rule, step by step in NumPy on the model's float32 logits."""
    n, (rows, cols), k = len(uniforms), model.grid_shape, model.num_codes
    codes = np.zeros((n, rows, cols), np.int32)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        logits = model.logits(codes, condition).numpy()[:, r, c]
        p = np.exp(logits - logits.max(-1, keepdims=True))
        cdf = np.cumsum(p / p.sum(-1, keepdims=True), axis=-1, dtype=np.float32)
        above = cdf > uniforms[:, i : i + 1]
        codes[:, r, c] = np.where(above.any(-1), above.argmax(-1), k - 1)
    return codes


def test_sampling_is_the_inverse_cdf_and_repeats_per_seed(rng):
    model = PixelCNN(grid_shape=(3, 4), num_codes=6, filters=8, num_layers=2, seed=0)
    for w in model.network.get_layer("logits").weights:  # peaked distributions, so codes vary
        w.assign(w * 8)
    u = rng.uniform(size=(6, 12)).astype(np.float32)
    u[0], u[1] = 0.0, np.float32(1 - 2**-24)  # the ends: code 0 and the clip to num_codes - 1
    got = model.sample_from_uniforms(u).numpy()
    assert got.dtype == np.int32 and got.shape == (6, 3, 4)
    np.testing.assert_array_equal(got, numpy_inverse_cdf(model, u))
    np.testing.assert_array_equal(model.sample_from_uniforms(u.reshape(6, 3, 4)).numpy(), got)
    assert (got[0] == 0).all() and len(np.unique(got[2:])) > 2

    a = model.sample(5, seed=1).numpy()
    np.testing.assert_array_equal(a, model.sample(5, seed=1).numpy())
    np.testing.assert_array_equal(
        a, model.sample_from_uniforms(tf.random.stateless_uniform((5, 12), seed=[1, 0])).numpy()
    )
    assert (a != model.sample(5, seed=2).numpy()).any()
    assert model.sample(2).shape == (2, 3, 4)
    with pytest.raises(UserError, match="unconditional"):
        model.sample(2, seed=0, condition=np.zeros((1, 2), np.int32))


def test_conditioned_sampling_follows_the_same_rule(rng):
    model = PixelCNN(grid_shape=(2, 4), num_codes=5, filters=8, num_layers=2, condition_shape=(1, 2), condition_codes=3)
    condition = np.array([[0, 2]], np.int32)
    u = rng.uniform(size=(3, 8)).astype(np.float32)
    got = model.sample_from_uniforms(u, np.repeat(condition[None], 3, 0)).numpy()
    np.testing.assert_array_equal(got, numpy_inverse_cdf(model, u, np.repeat(condition[None], 3, 0)))
    np.testing.assert_array_equal(
        model.sample(3, seed=4, condition=condition).numpy(),
        model.sample(3, seed=4, condition=np.repeat(condition[None], 3, 0)).numpy(),
    )
    for bad in (None, np.array([[0, 3]]), np.zeros((2, 2), np.int32)):
        with pytest.raises(UserError, match="condition"):
            model.sample(3, seed=0, condition=bad)


def conditioned_tiny():
    return PixelCNN(
        grid_shape=(4, 4), num_codes=7, filters=8, num_layers=3, condition_shape=(2, 2), condition_codes=3, seed=0
    )


def test_config_and_keras_round_trip(tmp_path, rng):
    model = conditioned_tiny()
    config = model.get_config()
    json.dumps(config)
    assert PixelCNN.from_config(config).get_config() == config
    assert model.batch_keys == ("codes", "condition") and model.loss_names == ("loss",)
    assert "nats per example" in str(model.term_docs["loss"])

    batch = {
        "codes": rng.integers(0, 7, (3, 4, 4)).astype(np.int32),
        "condition": rng.integers(0, 3, (3, 2, 2)).astype(np.int32),
    }
    model.save(tmp_path / "prior.keras")
    loaded = keras.models.load_model(tmp_path / "prior.keras")  # no custom_objects
    assert type(loaded) is PixelCNN and loaded.get_config() == config
    np.testing.assert_array_equal(loaded.logits(**batch).numpy(), model.logits(**batch).numpy())
    logp = -loaded.loss_terms(batch)["loss"].numpy()
    log_softmax = tf.nn.log_softmax(model.logits(**batch)).numpy()
    expected = np.take_along_axis(log_softmax, batch["codes"][..., None], -1).sum((1, 2, 3))
    np.testing.assert_allclose(logp, expected, rtol=1e-5)


def test_exported_prior_runs_in_onnxruntime(tmp_path, rng):
    import onnx
    import onnxruntime

    from keras_vae.export.onnx import convert
    from keras_vae.export.parts import make_part
    from keras_vae.runner.config import RunConfig

    model = conditioned_tiny()
    (part,) = model.export_parts()
    assert part.module is model.network and part.outputs == {"logits": (4, 4, 7)}
    assert [(i.name, i.shape, i.dtype, i.classes) for i in part.inputs] == [
        ("codes", (4, 4), "int32", 7),
        ("condition", (2, 2), "int32", 3),
    ]
    assert part.metadata["grid_shape"] == [4, 4] and part.metadata["num_codes"] == 7
    proto = convert(make_part(part, RunConfig(class_name="PixelCNN", params={}, entry="pixelcnn"), tmp_path).function)
    onnx.checker.check_model(proto)
    assert [i.type.tensor_type.elem_type for i in proto.graph.input] == [onnx.TensorProto.INT32] * 2
    constants = {t.name for t in proto.graph.initializer}
    convs = [n for n in proto.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    assert len(convs) >= 3 * 6 and all(n.input[1] in constants for n in convs)  # masks folded into the weights
    assert any(n.op_type == "Gather" for n in proto.graph.node)

    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        inputs = {i.name: i.draw(rng, batch) for i in part.inputs}
        (got,) = session.run(None, inputs)
        np.testing.assert_allclose(got, part.function(**inputs)["logits"].numpy(), atol=1e-5)
