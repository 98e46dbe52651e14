"""The VQ-VAE vector quantizer against NumPy: nearest codes, loss terms and where their gradients
go, the EMA update in closed form, dead-code restarts, code statistics, saving and ONNX."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae.models.vq.quantizer import VectorQuantizer, code_statistics


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same weights (random inits otherwise vary between runs)."""
    keras.utils.set_random_seed(0)


def nearest(z, codebook):
    """NumPy reference: codes and code vectors of z [..., D] by squared distance, in float64."""
    z, codebook = np.asarray(z, np.float64), np.asarray(codebook, np.float64)
    distances = np.square(z[..., None, :] - codebook).sum(axis=-1)
    codes = distances.argmin(axis=-1)
    return codes, codebook[codes]


def quantizer(num_codes, code_dim, codebook=None, **kwargs):
    layer = VectorQuantizer(num_codes=num_codes, code_dim=code_dim, seed=0, **kwargs)
    layer.build()
    if codebook is not None:
        layer.codebook.assign(codebook)
    return layer


@pytest.mark.parametrize("ema", [False, True])
def test_nearest_codes_and_per_example_terms_match_numpy(rng, ema):
    layer = quantizer(10, 6, beta=0.3, ema=ema)
    z = rng.normal(size=(3, 4, 5, 6)).astype("float32")
    out = layer(z)
    codes, e = nearest(z, layer.codebook.numpy())
    np.testing.assert_array_equal(out["codes"].numpy(), codes)
    assert out["codes"].dtype == tf.int32
    squared = np.square(z - e).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(out["codebook"].numpy(), squared, rtol=1e-5)
    np.testing.assert_allclose(out["commitment"].numpy(), squared, rtol=1e-5)
    expected = 0.3 * squared if ema else squared + 0.3 * squared
    np.testing.assert_allclose(out["vq_loss"].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(out["quantized"].numpy(), e, atol=1e-6)


def test_half_precision_inputs_are_quantized_in_float32(rng):
    layer = quantizer(32, 8, dtype="mixed_float16")
    z = rng.normal(size=(4, 3, 3, 8)).astype("float16")
    out = layer(z)
    codes, e = nearest(z.astype("float32"), layer.codebook.numpy())
    np.testing.assert_array_equal(out["codes"].numpy(), codes)
    assert out["quantized"].dtype == tf.float16 and out["vq_loss"].dtype == tf.float32
    np.testing.assert_allclose(out["quantized"].numpy(), e, atol=2e-3)


def test_straight_through_gradient_reaches_z_e_unchanged(rng):
    layer = quantizer(10, 4)
    z = tf.constant(rng.normal(size=(2, 3, 3, 4)).astype("float32"))
    w = tf.constant(rng.normal(size=(2, 3, 3, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(z)
        quantized = layer(z, training=True)["quantized"]
        f = tf.reduce_sum(w * tf.sin(quantized))  # nonlinear: its gradient depends on where it is taken
    by_z, by_quantized = tape.gradient(f, [z, quantized])
    np.testing.assert_array_equal(by_z.numpy(), by_quantized.numpy())
    # Taken at the code vectors, not at z_e.
    _, e = nearest(z.numpy(), layer.codebook.numpy())
    np.testing.assert_allclose(by_quantized.numpy(), w.numpy() * np.cos(e), rtol=1e-5, atol=1e-6)


def test_codebook_learns_only_from_the_codebook_term_and_the_encoder_only_from_commitment(rng):
    layer = quantizer(6, 3)
    z = tf.constant(rng.normal(size=(4, 5, 3)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        out = layer(z, training=True)
        codebook_term, commitment = tf.reduce_sum(out["codebook"]), tf.reduce_sum(out["commitment"])
    assert tape.gradient(codebook_term, z) is None
    assert tape.gradient(commitment, layer.codebook) is None
    codes, e = nearest(z.numpy(), layer.codebook.numpy())
    np.testing.assert_allclose(tape.gradient(commitment, z).numpy(), 2 * (z.numpy() - e), rtol=1e-5, atol=1e-6)
    # d/de_k of sum ||z - e_k||^2 over the vectors assigned to k; unused codes get nothing.
    expected = np.zeros((6, 3))
    np.add.at(expected, codes.ravel(), 2 * (e - z.numpy()).reshape(-1, 3))
    gradient = tf.convert_to_tensor(tape.gradient(codebook_term, layer.codebook)).numpy()
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-6)


def test_ema_updates_equal_the_closed_form(rng):
    num_codes, dim, decay, eps = 4, 3, 0.9, 0.1  # a large epsilon, so the smoothing shows
    layer = quantizer(num_codes, dim, ema=True, decay=decay, epsilon=eps)
    assert [w.name for w in layer.trainable_weights] == []
    cluster_size, embed_sum = np.ones(num_codes), layer.codebook.numpy().astype(np.float64)
    np.testing.assert_array_equal(layer.embed_sum.numpy(), embed_sum)
    z = rng.normal(size=(2, 4, 4, dim)).astype("float32")
    layer(z)  # not training: nothing moves
    np.testing.assert_array_equal(layer.codebook.numpy(), embed_sum)
    for step in range(2):
        before = layer.codebook.numpy()
        codes, e = nearest(z + step, before)
        out = layer(z + step, training=True)
        np.testing.assert_allclose(out["quantized"].numpy(), e, atol=1e-6)  # the codebook before the update
        one_hot = np.eye(num_codes)[codes.ravel()]
        cluster_size = decay * cluster_size + (1 - decay) * one_hot.sum(axis=0)
        embed_sum = decay * embed_sum + (1 - decay) * one_hot.T @ (z + step).reshape(-1, dim)
        n = cluster_size.sum()
        smoothed = (cluster_size + eps) / (n + num_codes * eps) * n
        np.testing.assert_allclose(layer.cluster_size.numpy(), cluster_size, rtol=1e-5)
        np.testing.assert_allclose(layer.embed_sum.numpy(), embed_sum, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.codebook.numpy(), embed_sum / smoothed[:, None], rtol=1e-5, atol=1e-6)
    assert len(np.unique(codes)) < num_codes  # an unused code was smoothed too


def clustered_batch(rng, centers, per_center):
    z = np.concatenate([c + 0.1 * rng.normal(size=(per_center, len(c))) for c in centers])
    return rng.permutation(z).reshape(-1, 5, 5, len(centers[0])).astype("float32")


@pytest.mark.parametrize("ema", [False, True])
def test_dead_codes_restart_at_encoder_outputs(rng, ema):
    centers = np.eye(4) * 3
    codebook = np.concatenate([centers, np.full((4, 4), 100.0)]).astype("float32")  # codes 4-7 never win
    layer = quantizer(8, 4, codebook, ema=ema, reinit_unused=True, reinit_threshold=1.0)
    z = clustered_batch(rng, centers, 25)
    layer(z)
    np.testing.assert_array_equal(layer.codebook.numpy(), codebook)  # not training: no restart
    rows = z.reshape(-1, 4)
    used = np.unique(layer(z, training=True)["codes"].numpy())
    np.testing.assert_array_equal(used, np.arange(4))  # the restarts come after this batch's codes
    np.testing.assert_array_equal(layer.usage.numpy()[4:], 1.0)  # restarted at the threshold
    assert (layer.usage.numpy()[:4] > 1.0).all()
    if ema:  # restarted as one pseudo-assignment of itself; the used codes moved by EMA
        np.testing.assert_array_equal(layer.embed_sum.numpy()[4:], layer.codebook.numpy()[4:])
        np.testing.assert_array_equal(layer.cluster_size.numpy()[4:], 1.0)
    for _ in range(3):
        new = layer.codebook.numpy()
        for code in new[4:]:
            assert np.square(rows - code).sum(axis=1).min() == 0.0  # exactly a row of z_e
        if ema:
            break  # later steps move the restarted codes by EMA too
        np.testing.assert_array_equal(new[:4], codebook[:4])
        z = z[:, ::-1]  # the same vectors in another order: the restarted codes now compete
        layer(z, training=True)


def test_code_statistics():
    uniform = code_statistics(np.repeat(np.arange(5), 12).reshape(6, 2, 5), num_codes=16)
    assert uniform["perplexity"].numpy() == pytest.approx(5.0, rel=1e-6)
    assert uniform["codes_used"].numpy() == 5 and uniform["codes_used"].dtype == tf.int32
    single = code_statistics(np.full((3, 7, 7), 9), num_codes=16)
    assert single["perplexity"].numpy() == pytest.approx(1.0) and single["codes_used"].numpy() == 1
    skewed = code_statistics(np.array([[0, 0, 1, 2]]), num_codes=4)  # p = 1/2, 1/4, 1/4: H = 1.5 bits
    assert skewed["perplexity"].numpy() == pytest.approx(2**1.5, rel=1e-6)


def test_config_round_trip_and_saved_model_keep_the_codebook_and_ema_state(rng, tmp_path):
    config = dict(
        num_codes=8,
        code_dim=4,
        beta=0.5,
        ema=True,
        decay=0.95,
        epsilon=1e-3,
        reinit_unused=True,
        reinit_threshold=0.5,
        seed=3,
    )
    layer = VectorQuantizer(**config, name="vq")
    copy = VectorQuantizer.from_config(layer.get_config())
    assert {k: copy.get_config()[k] for k in config} == config

    z_in = keras.Input((3, 3, 4))
    codes_in = keras.Input((7, 7), dtype="int32")
    out = layer(z_in)
    model = keras.Model([z_in, codes_in], [out["quantized"], out["codes"], layer.lookup(codes_in)])
    z = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    layer(z, training=True)  # move the state away from its initial values
    codes = rng.integers(0, 8, size=(2, 7, 7)).astype("int32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    vq = loaded.get_layer("vq")
    assert [w.name for w in vq.weights] == ["codebook", "cluster_size", "embed_sum", "usage"]
    for a, b in zip(layer.weights, vq.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(model([z, codes]), loaded([z, codes])):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_lookup_exports_to_onnx_as_a_gather(rng):
    tf2onnx = pytest.importorskip("tf2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    layer = quantizer(16, 5)
    codes_in = keras.Input((7, 7), dtype="int32")
    model = keras.Model(codes_in, layer.lookup(codes_in))
    function = tf.function(
        lambda codes: {"vectors": model(codes)}, input_signature=[tf.TensorSpec([None, 7, 7], tf.int32, name="codes")]
    )
    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=17)
    assert "Gather" in {node.op_type for node in proto.graph.node}
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    codes = rng.integers(0, 16, size=(3, 7, 7)).astype("int32")
    (vectors,) = session.run(None, {session.get_inputs()[0].name: codes})
    np.testing.assert_array_equal(vectors, layer.codebook.numpy()[codes])
