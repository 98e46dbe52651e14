"""td_vae (Gregor et al. 2019): the per-pair loss against a NumPy computation of the paper's
equation, rollouts that beat repeating the last frame, sampling and its refusals.

The contract (build, round trips, training, evaluation, figures, ONNX parity of the belief and
rollout_step parts) is tests/test_models.py's, like every entry's.
"""

from pathlib import Path

import keras
import numpy as np
import pytest

from keras_vae.core.errors import ConfigError, UserError
from keras_vae.data import datasets as data
from keras_vae.data import sequences
from keras_vae.models import TDVAE
from keras_vae.runner import evaluate, figures
from keras_vae.runner.optimizers import FusedAdam

SMALL = dict(
    image_shape=(6, 5, 1),
    belief_dim=5,
    state_dim=2,
    hidden_dim=4,
    hidden_sizes=[7],
    max_jump=3,
    context=3,
    horizon=2,
    seed=0,
)


# -- an independent NumPy reading of the networks and the equation ---------------------------
def weights(layer):
    return [w.numpy().astype(np.float64) for w in layer.weights]


def dense(x, layer):
    kernel, bias = weights(layer)
    return x @ kernel + bias


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def d_block(network, *inputs):
    x = np.concatenate(inputs, -1)
    h = np.tanh(dense(x, network.get_layer("hidden"))) * sigmoid(dense(x, network.get_layer("gate")))
    return dense(h, network.get_layer("mean")), dense(h, network.get_layer("log_var"))


def beliefs(model, frames):
    """Dense-ReLU frame features, then an LSTM (Keras gate order i, f, c, o), b_1..b_T."""
    n, steps = frames.shape[:2]
    features = np.maximum(dense(frames.reshape(n * steps, -1), model.frame_encoder.get_layer("dense_0")), 0)
    features = features.reshape(n, steps, -1)
    kernel, recurrent, bias = weights(model.belief_cell)
    h = c = np.zeros((n, model.belief_dim))
    out = []
    for t in range(steps):
        i, f, g, o = np.split(features[:, t] @ kernel + h @ recurrent + bias, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, 1)


def log_normal(z, mean, log_var):
    return -0.5 * np.sum(np.log(2 * np.pi) + log_var + (z - mean) ** 2 / np.exp(log_var), -1)


def kl_normal(p, q):
    (m1, v1), (m2, v2) = p, q
    return 0.5 * np.sum(v2 - v1 + (np.exp(v1) + (m1 - m2) ** 2) / np.exp(v2) - 1, -1)


def numpy_terms(model, frames, t1, jump, eps):
    """The negative of Gregor et al. (2019) eq. 8 for the pair (t1, t1 + jump), term by term."""
    s, rows = model.state_dim, np.arange(len(frames))
    b = beliefs(model, frames.astype(np.float64))
    b1, b2 = b[rows, t1], b[rows, t1 + jump]
    one_hot = np.eye(model.max_jump)[jump - 1]
    # z_t2 ~ p_B(z | b_t2), top layer first
    p2 = d_block(model.belief_top, b2)
    z2_t2 = p2[0] + np.exp(p2[1] / 2) * eps[0][:, :s]
    p1 = d_block(model.belief_bottom, b2, z2_t2)
    z1_t2 = p1[0] + np.exp(p1[1] / 2) * eps[0][:, s:]
    z_t2 = np.concatenate([z2_t2, z1_t2], -1)
    # z_t1 ~ q_S(z_t1 | z_t2, b_t1, b_t2)
    q2 = d_block(model.smooth_top, b1, b2, z_t2)
    z2_t1 = q2[0] + np.exp(q2[1] / 2) * eps[1][:, :s]
    q1 = d_block(model.smooth_bottom, b1, b2, z_t2, z2_t1)
    z1_t1 = q1[0] + np.exp(q1[1] / 2) * eps[1][:, s:]
    z_t1 = np.concatenate([z2_t1, z1_t1], -1)
    # the belief at t1 and the transition, at the sampled states
    smoothing_kl = kl_normal(q2, d_block(model.belief_top, b1)) + kl_normal(q1, d_block(model.belief_bottom, b1, z2_t1))
    t2_ = d_block(model.transition_top, z_t1, one_hot)
    t1_ = d_block(model.transition_bottom, z_t1, z2_t2, one_hot)
    transition = -(log_normal(z2_t2, *t2_) + log_normal(z1_t2, *t1_))
    belief = log_normal(z2_t2, *p2) + log_normal(z1_t2, *p1)
    h = np.maximum(dense(z_t2, model.decoder.get_layer("dense_0")), 0)
    logits = dense(h, model.decoder.get_layer("pixels"))
    x = frames[rows, t1 + jump].reshape(len(frames), -1)
    reconstruction = np.sum(np.maximum(logits, 0) - x * logits + np.log1p(np.exp(-np.abs(logits))), -1)
    terms = {"reconstruction": reconstruction, "smoothing_kl": smoothing_kl, "transition": transition, "belief": belief}
    return {"loss": sum(terms.values()), **terms}


def test_the_loss_terms_are_the_papers_equation_for_fixed_noise(rng):
    keras.utils.set_random_seed(0)
    model = TDVAE(**SMALL)
    for layer in (model.belief_top, model.transition_bottom, model.smooth_top):  # nonzero biases too
        for w in layer.weights:
            w.assign(rng.normal(0, 0.5, w.shape))
    frames = rng.uniform(size=(4, 6, 6, 5, 1)).astype(np.float32)
    t1, jump = np.array([0, 2, 1, 0], np.int32), np.array([1, 3, 2, 3], np.int32)
    eps = rng.standard_normal((2, 4, 4)).astype(np.float32)
    got = model.loss_terms({"frames": frames}, t1=t1, jump=jump, eps=eps)
    want = numpy_terms(model, frames, t1, jump, eps)
    assert set(got) == set(want) == set(model.loss_names)
    for name, value in want.items():
        assert got[name].shape == (4,) and got[name].dtype == "float32"
        np.testing.assert_allclose(got[name].numpy(), value, rtol=2e-5, atol=2e-4, err_msg=name)
    assert np.all(want["smoothing_kl"] >= 0) and np.ptp(want["loss"]) > 0

    # Drawn pairs lie inside the sequence, every jump in 1..max_jump occurs, and the noise is the model's.
    t1, jump = (x.numpy() for x in model.draw_pairs(2000, 6))
    assert set(jump) == {1, 2, 3} and t1.min() == 0 and (t1 + jump).max() == 5 and np.all(t1 + jump <= 5)


def toy_sequences(side=6, count=200):
    """Constant-velocity toys: a full-height one-pixel bar in a 6x6 frame moving one pixel a
    frame left or right (moving:<bars>, 7 frames)."""
    rng = np.random.default_rng(0)
    images = np.zeros((count, side, side, 1), np.float32)
    for image in images:
        image[:, rng.integers(0, side)] = 1.0
    return sequences.moving(data.make("bars", images[: count * 3 // 4], images[count * 3 // 4 :]), frames=7)


@pytest.mark.slow
def test_a_briefly_trained_rollout_beats_repeating_the_last_frame():
    keras.utils.set_random_seed(0)
    toys = toy_sequences()
    model = TDVAE(
        image_shape=(6, 6, 1),
        belief_dim=16,
        state_dim=4,
        hidden_dim=16,
        hidden_sizes=[32],
        max_jump=2,
        context=4,
        horizon=3,
        seed=0,
    )
    model.compile(optimizer=FusedAdam(1e-2), steps_per_execution=25)
    model.fit(toys.batches("train", 32, shuffle=True, seed=0).repeat(), steps_per_epoch=100, epochs=1, verbose=0)
    metrics = evaluate.evaluate_model(model, toys.examples("test"), batch_size=100, k=0)
    for h in range(1, 4):  # repeating the last frame misses two columns: MSE 2/6
        assert metrics[f"repeat_mse_h{h}"] == pytest.approx(1 / 3)
        assert metrics[f"mse_h{h}"] < 0.7 * metrics[f"repeat_mse_h{h}"], (h, metrics[f"mse_h{h}"])
    assert metrics["velocity_mse_h3"] == 0  # the oracle-ish baseline knows the motion


def test_rollouts_are_repeatable_and_sampling_needs_observed_frames(tmp_path):
    model = TDVAE(**SMALL)
    frames = np.random.default_rng(0).uniform(size=(3, 3, 6, 5, 1)).astype(np.float32)
    a = model.sample(3, seed=1, frames=frames).numpy()
    assert a.shape == (3, 2, 6, 5, 1) and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, model.sample(3, seed=1, frames=frames).numpy())
    assert not np.allclose(a, model.sample(3, seed=2, frames=frames).numpy())
    with pytest.raises(UserError, match="rolls out from observed frames"):
        model.sample(3, seed=1)
    with pytest.raises(UserError, match="unconditional"):
        model.sample(3, frames=frames, labels=1)
    short = sequences.moving(data.make("tiny", np.zeros((4, 6, 5)), np.zeros((2, 6, 5))), frames=4)
    with pytest.raises(UserError, match="sequences of 4 frames; the model needs at least 5"):
        short.check_fits(model)
    written = figures.draw(
        "rollouts",
        model,
        tmp_path,
        sequences.moving(data.make("tiny", np.zeros((4, 6, 5)), np.ones((2, 6, 5))), frames=5).examples("test"),
    )
    assert written.is_file() and written.with_suffix(".gif").is_file()
    from PIL import Image

    with Image.open(written.with_suffix(".gif")) as gif:  # titled, rows labelled, big enough to watch
        # The bare grid was 2 x 2 tiles of 6 x 5 pixels at x10 (119 x 109); now >= 112-pixel tiles
        # with a title band above and a label column ("truth", "rollout") on the left.
        assert gif.n_frames == 5 and gif.size[0] >= 2 * 5 * 19 + 60 and gif.size[1] >= 2 * 6 * 19 + 40
        gif.seek(0)
        frame = np.asarray(gif.convert("L"))
    assert (frame[:30] < 128).any() and (frame[:, :40] < 128).any()  # ink in the title band and the label column


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"state_dim": 0}, "state_dim must be an integer >= 1"),
        ({"max_jump": 0}, "max_jump must be an integer >= 1"),
        ({"horizon": 9}, "horizon must be an integer in [1, 8]"),
        ({"jump_input": "yes"}, "jump_input must be true or false"),
        ({"hidden_sizes": []}, "hidden_sizes must be a non-empty list"),
    ],
)
def test_bad_hyperparameters_are_one_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TDVAE(**{**SMALL, **kwargs})


@pytest.fixture(scope="module")
def onnx_parts(tmp_path_factory):
    """(model, {part: model.onnx}) of an untrained small TDVAE run exported to ONNX, both parts."""
    from keras_vae.export import export_run
    from keras_vae.runner import runs

    tmp_path = tmp_path_factory.mktemp("td_onnx")
    model = TDVAE(**SMALL)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runs.write_json(
        run_dir / runs.CONFIG,
        {"entry": "td_vae", "class": "TDVAE", "params": model.get_config(), "dataset": "moving:mnist_5k"},
    )
    runs.save_model(model, run_dir / runs.MODEL, include_optimizer=False)
    artifacts = {a.model_name: a.folder / "model.onnx" for a in export_run(run_dir, "onnx", "all", tmp_path / "out")}
    return model, artifacts


def test_the_onnx_rollout_example_needs_no_tensorflow_and_rolls_out_like_keras(onnx_parts, tmp_path):
    """export/onnx/rollout.py in a fresh process chains the exported belief and rollout_step
    parts; its frames are Keras's rollout with the same noise draws."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    model, artifacts = onnx_parts
    frames = np.random.default_rng(0).uniform(size=(3, 4, 6, 5, 1)).astype(np.float32)
    np.save(tmp_path / "frames.npy", frames)
    script = Path(__file__).parents[1] / "export" / "onnx" / "rollout.py"
    code = (
        "import json, runpy, sys; consumer = runpy.run_path(sys.argv[1]); consumer['main'](sys.argv[2:]); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(script),
            str(artifacts["td_vae_belief"]),
            str(artifacts["td_vae_rollout_step"]),
            "frames.npy",
            "--steps",
            "4",
            "--seed",
            "3",
            "--out",
            "rollouts.png",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "keras_vae", "tf2onnx")]
    assert (tmp_path / "rollouts.png").is_file()
    rng = np.random.default_rng(3)  # the example's draws: the belief's noise, then one per step
    eps = np.stack([rng.standard_normal((3, 4)).astype(np.float32) for _ in range(5)])
    expected = model.rollout(frames[:, :3], 4, eps).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "rollouts.npy"), expected, atol=1e-5)


def test_the_cli_rolls_out_and_lists_the_shipped_td_vae(cli, tmp_path, monkeypatch, mnist_5k):
    """`sample td_vae` draws rollouts of test sequences (PNG and GIF) outside the zoo; the
    shipped metrics print with both baselines and beat repeating the last frame; `list` shows them."""
    from keras_vae.cli.evaluate import format_metrics
    from keras_vae.runner import runs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "mnist_5k", lambda: mnist_5k)  # loaded once per session
    code, out, err = cli("sample", "td_vae", "--n", "3", "--seed", "1")
    assert code == 0, err
    written = tmp_path / "runs" / "td_vae" / "pretrained"
    png, gif = written / "samples_rollouts_seed1_n3.png", written / "samples_rollouts_seed1_n3.gif"
    assert png.is_file() and gif.is_file()
    assert not (written / "rollouts.png").exists()  # plot's file: `plot` then `sample` both work
    kept = png.read_bytes(), gif.read_bytes()
    code, out, err = cli("sample", "td_vae", "--n", "3")  # another seed: another pair of files
    assert code == 0 and (written / "samples_rollouts_seed0_n3.gif").is_file(), err
    code, out, err = cli("sample", "td_vae", "--n", "3", "--seed", "1")  # the same settings again
    assert code == 0 and out.count("already there: ") == 2, err
    assert (png.read_bytes(), gif.read_bytes()) == kept
    shipped = runs.read_json(runs.pretrained_dir("td_vae") / evaluate.METRICS)  # as `evaluate` prints it
    table = format_metrics(shipped)
    assert "repeat_mse_h8" in table and "velocity_bce_h1" in table and "rollouts: from the belief" in table
    assert all(shipped[f"mse_h{h}"] < shipped[f"repeat_mse_h{h}"] for h in range(1, 9))  # the done-when
    code, out, err = cli("list")
    assert code == 0 and "rollout MSE 1 / 8 ahead" in out


def test_export_without_part_writes_the_declared_default_both_parts(cli, tmp_path):
    """td_vae declares export_default "all": its belief and rollout_step work only together; the
    "decoder" default of the other models is no part of it (it used to be an error)."""
    from keras_vae.runner import runs

    model = TDVAE(**SMALL)
    assert model.export_default == "all"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runs.write_json(
        run_dir / runs.CONFIG,
        {"entry": "td_vae", "class": "TDVAE", "params": model.get_config(), "dataset": "moving:mnist_5k"},
    )
    runs.save_model(model, run_dir / runs.MODEL, include_optimizer=False)
    code, out, err = cli("export", run_dir, "--format", "onnx", "--out", tmp_path / "out")
    assert code == 0, err
    assert (tmp_path / "out" / "onnx" / "td_vae_belief" / "1" / "model.onnx").is_file()
    assert (tmp_path / "out" / "onnx" / "td_vae_rollout_step" / "1" / "model.onnx").is_file()
    code, out, _ = cli("export", "--help")
    assert code == 0 and "td_vae: all" in out and "zoo entry name" in out


ROLLOUT = Path(__file__).parents[1] / "export" / "onnx" / "rollout.py"


def run_rollout(artifacts, frames_file, cwd):
    import subprocess
    import sys

    parts = [str(artifacts["td_vae_belief"]), str(artifacts["td_vae_rollout_step"])]
    return subprocess.run(
        [sys.executable, str(ROLLOUT), *parts, str(frames_file), "--steps", "2", "--out", "r.png"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((2, 4, 7, 5, 1), np.float32), "must hold frames [n, T >= "),
        (np.zeros((2, 4, 6, 5, 3), np.float32), "(this td_vae's)"),
        (np.full((2, 4, 6, 5, 1), 200.0, np.float32), "must be in [0, 1]"),
        (np.full((2, 4, 6, 5, 1), np.nan, np.float32), "NaN or inf"),
    ],
)
def test_the_onnx_rollout_example_refuses_frames_it_cannot_roll_out(onnx_parts, tmp_path, frames, message):
    np.save(tmp_path / "frames.npy", frames)
    result = run_rollout(onnx_parts[1], tmp_path / "frames.npy", tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]


def test_the_onnx_rollout_example_reads_uint8_frames_as_0_to_255(onnx_parts, tmp_path):
    frames = np.random.default_rng(1).integers(0, 256, (2, 4, 6, 5, 1), dtype=np.uint8)
    np.save(tmp_path / "bytes.npy", frames)
    np.save(tmp_path / "floats.npy", frames.astype(np.float32) / 255)
    for name in ("bytes", "floats"):
        result = run_rollout(onnx_parts[1], tmp_path / f"{name}.npy", tmp_path)
        assert result.returncode == 0, result.stderr
        (tmp_path / "r.npy").rename(tmp_path / f"rolled_{name}.npy")
    np.testing.assert_allclose(
        np.load(tmp_path / "rolled_bytes.npy"), np.load(tmp_path / "rolled_floats.npy"), atol=1e-6
    )
