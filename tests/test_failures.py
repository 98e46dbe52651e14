"""When things go wrong: divergence, NaN in data or JSON, names that try to be paths, files that
would be overwritten, bad options and files. Each a fault users of VAE tools report, turned into
the behaviour keras_vae promises (one `error:` line, nothing on disk lost)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vae.catalogue import entries
from keras_vae.core import losses
from keras_vae.core.errors import UserError
from keras_vae.core.layers import reparameterize
from keras_vae.data import datasets as data
from keras_vae.runner import builder, fit, runs, train
from keras_vae.runner.config import resolve

TINY_DENSE = {"dataset": "mnist_5k", "latent_dim": 2, "hidden_sizes": [16], "batch_size": 64, "epochs": 1}
TINY_DENSE_CLI = [
    "--set",
    "dataset=mnist_5k",
    "--set",
    "latent_dim=2",
    "--set",
    "hidden_sizes=[16]",
    "--set",
    "batch_size=64",
]
ROOT = Path(__file__).resolve().parent.parent


def strict_json(path):
    """Parse `path` as JSON that holds no NaN or Infinity (which json.loads would accept)."""

    def refuse(token):
        raise AssertionError(f"{path} holds {token}")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("error:")]


def one_error(code, err, *messages):
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for message in messages:
        assert message in lines[0], (message, lines[0])
    return lines[0]


# -- 1. non-finite training -------------------------------------------------------------------
def test_a_diverging_run_stops_at_the_first_non_finite_loss(cli, tmp_path):
    out = tmp_path / "run"
    code, _, err = cli(
        "train",
        "dense_vae",
        *TINY_DENSE_CLI,
        "--set",
        "learning_rate=1e30",
        "--limit",
        256,
        "--epochs",
        2,
        "--seed",
        0,
        "--out",
        out,
    )
    line = one_error(code, err, "in epoch 1", "learning rate too high", "no checkpoint")
    assert "step" in line and "precision float32" in line
    assert not (out / "model.keras").exists() and not (out / "checkpoint.keras").exists()
    for path in out.glob("*.json"):
        strict_json(path)


class PoisonAtEpoch(keras.callbacks.Callback):
    """Sets the decoder's output kernel to NaN when epoch `epoch` (0-based) begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            kernel = self.model.decoder.get_layer("pixels").kernel
            kernel.assign(tf.fill(kernel.shape, np.nan))


def test_nan_in_a_later_epoch_keeps_the_last_good_checkpoint_resumable(tmp_path):
    run_dir = tmp_path / "run"
    overrides = {**TINY_DENSE, "epochs": 2}
    with pytest.raises(UserError, match=r"in epoch 2, steps 1-4 of 4.*checkpoint of epoch 1 is kept"):
        train.train("dense_vae", overrides, run_dir=run_dir, seed=0, verbose=0, limit=256, callbacks=[PoisonAtEpoch(1)])
    assert strict_json(run_dir / "state.json")["epoch"] == 1
    assert [row["epoch"] for row in strict_json(run_dir / "history.json")] == [1]
    checkpoint = runs.load_model(run_dir / "checkpoint.keras")
    assert all(np.isfinite(w).all() for w in checkpoint.get_weights())
    train.resume(run_dir, epochs=2, verbose=0)
    assert [row["epoch"] for row in strict_json(run_dir / "history.json")] == [1, 2]


def test_a_run_whose_loss_grows_finite_but_huge_stops_as_diverged(cli, tmp_path):
    out = tmp_path / "run"
    # The entry's own network (784-512-256-16): at learning_rate 5 its first epoch ends near 1e13 nats.
    code, _, err = cli(
        "train",
        "dense_vae",
        "--set",
        "dataset=mnist_5k",
        "--set",
        "learning_rate=5",
        "--limit",
        256,
        "--seed",
        0,
        "--epochs",
        1,
        "--out",
        out,
    )
    one_error(code, err, "training diverged: val_loss is", "after epoch 1", "likely too high: try 0.5", "no checkpoint")
    assert not (out / "checkpoint.keras").exists() and not (out / "model.keras").exists()


class BlowUpAtEpoch(PoisonAtEpoch):
    """Sets the decoder's output bias to +1e4 (finite, every pixel certain to be 1) at epoch `epoch`."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            bias = self.model.decoder.get_layer("pixels").bias
            bias.assign(tf.fill(bias.shape, 1e4))
            self.model.optimizer.learning_rate.assign(0.0)  # stays blown up through the epoch


def test_divergence_in_a_later_epoch_keeps_the_last_good_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(UserError, match=r"diverged: val_loss is .* after epoch 2.*checkpoint of epoch 1 is kept"):
        train.train(
            "dense_vae",
            {**TINY_DENSE, "epochs": 2},
            run_dir=run_dir,
            seed=0,
            verbose=0,
            limit=256,
            callbacks=[BlowUpAtEpoch(1)],
        )
    assert strict_json(run_dir / "state.json")["epoch"] == 1
    assert [row["epoch"] for row in strict_json(run_dir / "history.json")] == [1]


@pytest.mark.parametrize(
    "start, loss, stops",
    [
        (543.0, 54_000.0, False),
        (543.0, 55_000.0, True),
        (-1000.0, 98_000.0, False),
        (-1000.0, 100_000.0, True),
        (0.05, 100.0, False),
        (0.05, 101.0, True),
        (None, 1e30, False),
    ],
)
def test_the_divergence_rule(start, loss, stops):
    guard = fit.DivergenceGuard(start, "run", resolve("dense_vae", {}))
    check = lambda: guard.on_epoch_end(0, {"loss": 1.0, "val_loss": loss})  # noqa: E731
    if stops:
        with pytest.raises(UserError, match="diverged"):
            check()
    else:
        check()


def test_json_is_never_written_with_nan_or_infinity(tmp_path):
    path = tmp_path / "metrics.json"
    with pytest.raises(UserError, match=r"history\[1\]\.loss is not finite"):
        runs.write_json(path, {"history": [{"loss": 1.0}, {"loss": float("nan")}]})
    with pytest.raises(UserError, match="not finite"):
        runs.write_json(path, [float("inf")])
    assert not path.exists()


class FakePart:
    """What export.verify.compare needs of an exported part; `keras_value` fills the reference."""

    def __init__(self, keras_value):
        self.keras_value = keras_value

    def sample_inputs(self, rng, batch):
        return {"z": rng.standard_normal((batch, 2)).astype(np.float32)}

    def keras_outputs(self, inputs):
        return {"images": np.full((len(inputs["z"]), 4), self.keras_value, np.float32)}


@pytest.mark.parametrize("keras_value, exported_value", [(0.5, np.nan), (np.nan, np.nan), (np.nan, 0.5)])
def test_export_comparison_fails_on_nan(keras_value, exported_value):
    from keras_vae.export import ExportFailed, verify

    def run(inputs):
        return {"images": np.full((len(inputs["z"]), 4), exported_value, np.float32)}

    with pytest.raises(ExportFailed, match="NaN"):
        verify.compare(FakePart(keras_value), run, 1e-5, "ONNX test")


# -- 2. learned scales are bounded ------------------------------------------------------------
def test_the_gaussian_sigma_has_a_floor_and_the_log_variance_a_clamp():
    x = tf.fill((1, 4, 4, 3), 0.5)
    log_sigma = tf.Variable([-50.0, -50.0, -50.0])
    with tf.GradientTape() as tape:
        log_prob = losses.gaussian_log_prob(x, x, log_sigma)
    assert float(log_prob[0]) == pytest.approx(48 * losses.LOG_PROB_MAX_PER_PIXEL, rel=1e-5)
    assert losses.LOG_PROB_MAX_PER_PIXEL == pytest.approx(-math.log(1e-3) - 0.5 * math.log(2 * math.pi))
    assert np.all(tape.gradient(log_prob, log_sigma).numpy() == 0)  # cannot push sigma below the floor
    above = losses.gaussian_log_prob(x, x + 0.1, tf.constant([math.log(0.2)] * 3))  # unchanged above it
    expected = 48 * (-math.log(0.2) - 0.5 * math.log(2 * math.pi) - 0.5 * (0.1 / 0.2) ** 2)
    assert float(above[0]) == pytest.approx(expected, rel=1e-5)
    z = reparameterize(tf.zeros(3, tf.float16), tf.constant([30.0, 60.0, -60.0], tf.float16), tf.ones(3, tf.float16))
    assert np.isfinite(z.numpy()).all() and float(z[2]) > 0
    kl = losses.gaussian_kl_per_dim(tf.zeros((1, 2)), tf.constant([[1000.0, -1000.0]]))
    assert np.isfinite(kl.numpy()).all()


class CollapseSigma(keras.callbacks.Callback):
    """Sets the constant channel's learned log sigma to -50 after epoch 1, where a long run takes it
    (-15,000 nats per image, then NaN, in the issue): one short run reaches the collapsed state."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.model.log_sigma.assign(tf.concat([self.model.log_sigma[:2], [-50.0]], 0))


def test_a_constant_colour_channel_with_learned_sigma_stays_bounded(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(320, 8, 8, 3), dtype=np.uint8)
    images[..., 2] = 128  # one channel never varies: its learned sigma collapses
    path = tmp_path / "colour.npz"
    np.savez(path, x_train=images[:256], x_test=images[256:])
    overrides = {
        "dataset": f"npz:{path}",
        "latent_dim": 2,
        "hidden_sizes": [16],
        "likelihood": "gaussian",
        "learn_sigma": True,
        "learning_rate": 0.01,
        "batch_size": 32,
        "epochs": 3,
    }
    model, run_dir = train.train(
        "dense_vae", overrides, run_dir=tmp_path / "run", seed=0, verbose=0, callbacks=[CollapseSigma()]
    )
    assert float(model.log_sigma[2]) <= losses.LOG_SIGMA_MIN  # collapsed below the floor, and held there
    bound = -8 * 8 * 3 * losses.LOG_PROB_MAX_PER_PIXEL  # loss >= -log p(x|z) >= this (KL >= 0)
    history = strict_json(run_dir / "history.json")
    assert len(history) == 3
    for row in history:
        assert row["loss"] >= bound and row["val_loss"] >= bound
    with pytest.raises(Exception, match="gaussian_sigma must be >= 0.001"):
        builder.build("dense_vae", likelihood="gaussian", gaussian_sigma=1e-4)


# -- 3. every setting is recorded and restored ------------------------------------------------
def test_limit_and_overrides_are_recorded_and_resume_restores_them(cli, tmp_path, monkeypatch):
    out = tmp_path / "run"
    code, _, err = cli(
        "train",
        "dense_vae",
        *TINY_DENSE_CLI,
        "--set",
        "likelihood=gaussian",
        "--limit",
        64,
        "--epochs",
        1,
        "--seed",
        5,
        "--out",
        out,
    )
    assert code == 0, err
    config = strict_json(out / "config.json")
    assert config["limit"] == 64 and config["seed"] == 5 and config["dataset"] == "mnist_5k"
    assert 'likelihood="gaussian" (entry: "bernoulli")' in config["description"]
    code, _, err = cli("train", "--resume", out, "--epochs", 2, "--limit", 128)
    one_error(code, err, "was trained with --limit 64, not --limit 128")
    seen = []
    original = fit.batches
    monkeypatch.setattr(
        fit,
        "batches",
        lambda d, split, c, keys, limit=None, **kw: seen.append(limit) or original(d, split, c, keys, limit, **kw),
    )
    train.resume(out, epochs=2, verbose=0)
    assert seen == [64, 64]  # train and test split of epoch 2, as in epoch 1


# -- 4. names are names, and zoo/ is never written -------------------------------------------
def test_entry_names_are_not_paths_and_nothing_writes_into_the_zoo(cli, tmp_path):
    before = sorted(p.relative_to(entries.zoo_dir()) for p in entries.zoo_dir().rglob("*"))
    for name in ("../zoo/conv_vae", "conv_vae/../../zoo/dense_vae", "/tmp/x", "Conv_VAE"):
        code, _, err = cli(
            "train", name, "--epochs", 1, "--limit", 64, "--set", "dataset=mnist_5k", "--out", tmp_path / "run"
        )
        one_error(code, err, "is not a zoo entry name")
    code, _, err = cli(
        "train",
        "dense_vae",
        *TINY_DENSE_CLI,
        "--epochs",
        1,
        "--limit",
        64,
        "--out",
        entries.zoo_dir() / "dense_vae" / "run",
    )
    one_error(code, err, "inside the zoo catalogue")
    code, _, err = cli("sample", "dense_vae", "--out", entries.zoo_dir() / "dense_vae")
    one_error(code, err, "inside the zoo catalogue")
    assert sorted(p.relative_to(entries.zoo_dir()) for p in entries.zoo_dir().rglob("*")) == before


# -- 5. results are never overwritten silently ------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    _, run_dir = train.train(
        "dense_vae", TINY_DENSE, run_dir=tmp_path_factory.mktemp("faults") / "run", seed=0, verbose=0, limit=128
    )
    return run_dir


def test_evaluate_twice_prints_the_kept_metrics_and_other_settings_are_kept_beside(cli, tiny_run):
    code, fresh, err = cli("evaluate", tiny_run, "--k", 5, "--limit", 50)
    assert code == 0, err
    first = (tiny_run / "metrics.json").read_text()
    code, again, err = cli("evaluate", tiny_run, "--k", 5, "--limit", 50)  # the same settings: nothing to compute
    assert code == 0, err
    table = fresh[fresh.index("test metrics") :]  # after the IWAE progress bar
    assert again.replace("already there:", "wrote") == table and f"already there: {tiny_run / 'metrics.json'}" in again
    assert (tiny_run / "metrics.json").read_text() == first
    for args in (
        ["--k", 0],
        ["--k", 5, "--limit", 50, "--seed", 1],
        ["--dataset", "mnist_5k", "--k", 5, "--limit", 20],
    ):
        code, out, err = cli("evaluate", tiny_run, *args)
        assert code == 0 and "wrote" in out, err
        assert (tiny_run / "metrics.json").read_text() == first
    kept = sorted(p.name for p in tiny_run.glob("metrics*.json"))
    assert kept == [
        "metrics.json",
        "metrics_k0_batch64_seed0.json",
        "metrics_k5_batch64_seed0_limit20.json",
        "metrics_k5_batch64_seed1_limit50.json",
    ], kept
    assert strict_json(tiny_run / "metrics_k0_batch64_seed0.json")["settings"]["k"] == 0
    code, out, err = cli("evaluate", tiny_run, "--k", 0)
    assert code == 0 and "already there: " in out and out.strip().endswith("metrics_k0_batch64_seed0.json"), err
    code, _, err = cli("evaluate", tiny_run, "--k", 0, "--limit", 20, "--overwrite")
    assert code == 0, err
    assert strict_json(tiny_run / "metrics.json")["split_examples"] == 20


def test_plot_twice_keeps_every_picture_and_names_other_settings(cli, tiny_run, tmp_path):
    code, out, err = cli("plot", tiny_run, "--out", tmp_path)
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix in (".png", ".gif")}
    assert "reconstructions.png" in before and "training_curves.png" in before and "traversals.gif" in before
    code, out, err = cli("plot", tiny_run, "--out", tmp_path)  # the same settings: the same files
    assert code == 0 and "wrote" not in out and out.count("already there: ") == len(before), err
    code, out, err = cli("plot", tiny_run, "--out", tmp_path, "--seed", 1)
    assert code == 0 and f"wrote {tmp_path / 'reconstructions_seed1.png'}" in out, err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before} == before
    (tmp_path / "reconstructions_seed1.png").write_bytes(b"an older drawing")  # same settings, other content
    code, _, err = cli("plot", tiny_run, "--out", tmp_path, "--seed", 1)
    one_error(code, err, "reconstructions_seed1.png", "pass --overwrite")
    assert (tmp_path / "reconstructions_seed1.png").read_bytes() == b"an older drawing"
    code, out, err = cli("plot", tiny_run, "--out", tmp_path, "--seed", 1, "--overwrite")
    assert code == 0 and "replaced" in out, err
    assert not list(tmp_path.glob(".draw-*"))  # no staging folder left behind


# -- 6. folder images: one channel rule at load time ------------------------------------------
def write_pngs(folder, channel_counts, size=(8, 8)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, channels in enumerate(channel_counts):
        image = rng.integers(0, 256, size=(*size, channels), dtype=np.uint8)
        (folder / f"{i:02d}.png").write_bytes(tf.io.encode_png(image).numpy())
    return folder


@pytest.mark.parametrize(
    "channels, expected",
    [
        ([1] * 12, 1),  # grey
        ([2] * 12, 1),  # grey + alpha: the alpha is dropped
        ([4] * 12, 3),  # RGBA: the alpha is dropped
        ([1, 3] * 6, 3),  # grey and RGB mixed: grey becomes RGB
        ([2, 4, 1, 3] * 3, 3),
    ],
)
def test_folder_images_load_as_one_or_three_channels(tmp_path, channels, expected):
    loaded = data.load(f"folder:{write_pngs(tmp_path / 'images', channels)}")
    assert loaded.image_shape == (8, 8, expected) and len(loaded.x_test) == 1


def test_a_folder_too_small_for_a_test_split_is_one_clear_line(cli, tmp_path):
    folder = write_pngs(tmp_path / "few", [1] * 5)
    code, _, err = cli("train", "dense_vae", "--set", f"dataset=folder:{folder}", "--out", tmp_path / "run")
    one_error(code, err, "5 readable PNG/JPEG image(s); need at least 10", "test split")


# -- 7. numeric options are checked at the command line ---------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "dense_vae", "--seed", "-1"], "--seed must be in 0..2147483647, got -1"),
        (["train", "dense_vae", "--seed", "4294967296"], "--seed must be in 0..2147483647"),
        (["train", "dense_vae", "--limit", "0"], "--limit must be >= 1"),
        (["train", "dense_vae", "--epochs", "0"], "--epochs must be >= 1"),
        (["train", "dense_vae", "--steps-per-execution", "0"], "--steps-per-execution must be >= 1"),
        (["sweep", "dense_vae", "--seed", "-1"], "--seed must be in 0..2147483647"),
        (["sweep", "dense_vae", "--k", "-1"], "--k must be >= 0"),
        (["evaluate", "dense_vae", "--k", "-5"], "--k must be >= 0"),
        (["evaluate", "dense_vae", "--batch-size", "0"], "--batch-size must be >= 1"),
        (["sample", "dense_vae", "--seed", "-3"], "--seed must be in 0..2147483647"),
        (["plot", "dense_vae", "--seed", "99999999999"], "--seed must be in 0..2147483647"),
        (["export", "dense_vae", "--version", "0"], "--version must be >= 1"),
        (["serve-web", "--port", "70000"], "--port must be in 0..65535"),
        (["serve-web", "--stop-after", "nan"], "--stop-after must be > 0"),
        (["serve-request", "m", "--latent-dim", "0"], "--latent-dim must be >= 1"),
        (["serve-request", "m", "--latent-dim", "2", "--timeout", "inf"], "--timeout must be > 0"),
    ],
)
def test_every_numeric_option_is_checked(cli, args, message):
    one_error(*cli(*args)[::2], message)


def test_a_non_finite_learning_rate_is_refused(cli):
    one_error(*cli("train", "dense_vae", "--set", "learning_rate=Infinity")[::2], "learning_rate must be finite")


# -- 8. a file that is not an npz archive -----------------------------------------------------
def test_a_text_file_named_npz_is_not_an_npz_archive(cli, tmp_path):
    text = tmp_path / "data.npz"
    text.write_text("x_train,x_test\n1,2\n")
    objects = tmp_path / "objects.npz"
    np.savez(objects, x_train=np.array([{"a": 1}], dtype=object), x_test=np.zeros((2, 4, 4)))
    for path, message in ((text, "is not an npz archive"), (objects, "holds Python objects (pickled)")):
        code, _, err = cli("train", "dense_vae", "--set", f"dataset=npz:{path}")
        line = one_error(code, err, message)
        assert "allow_pickle" not in err and "allow_pickle" not in line


# -- 9. importing the package is enough to reload a model -------------------------------------
def test_import_keras_vae_is_enough_for_keras_load_model():
    model = ROOT / "zoo" / "dense_vae" / "pretrained" / "model.keras"
    script = (
        "import sys, keras_vae\n"
        "assert 'tensorflow' not in sys.modules  # the CLI's --help stays fast\n"
        "import keras\n"
        f"print(type(keras.models.load_model({str(model)!r})).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "VAE", result.stderr[-2000:]


# -- 10. the progress bar counts the epoch's steps --------------------------------------------
def test_the_progress_bar_never_counts_past_the_epoch(tmp_path, capsys):
    overrides = {**TINY_DENSE, "batch_size": 16}  # 352 images: 22 steps, one call of 32 steps
    train.train("dense_vae", overrides, run_dir=tmp_path / "run", seed=0, verbose=1, limit=352)
    out = capsys.readouterr().out
    assert "22/22" in out and "32/22" not in out and "ETA: -" not in out


def test_a_copy_of_the_catalogue_is_never_written_into_either(cli, tmp_path):
    """With a non-editable install, the zoo in use is site-packages' copy; the checkout's zoo/
    (any catalogue: a package of entries that ship weights) is protected all the same."""
    from keras_vae.runner import runs

    copy = tmp_path / "zoo"
    (copy / "ae" / "pretrained").mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    (copy / "ae" / "pretrained" / "model.keras").write_bytes(b"weights")
    with pytest.raises(UserError, match="is inside the zoo catalogue"):
        runs.refuse_zoo(copy / "ae" / "pretrained")
    assert runs.refuse_zoo(tmp_path / "elsewhere") == tmp_path / "elsewhere"
    code, _, err = cli("sample", "conv_vae", "--n", "4", "--out", copy / "ae")
    assert code == 2 and "is inside the zoo catalogue" in err
    assert sorted(p.name for p in (copy / "ae").iterdir()) == ["pretrained"]


# -- a resume never records what it did not do ---------------------------------------------------
def test_a_learning_rate_lowered_in_config_json_takes_effect_on_resume_and_is_recorded(tmp_path):
    run_dir = tmp_path / "run"
    train.train("dense_vae", TINY_DENSE, run_dir=run_dir, seed=0, verbose=0, limit=256)
    stored = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**stored, "learning_rate": 1e-4}))
    model, _ = train.resume(run_dir, epochs=2, verbose=0)
    rates = [row["learning_rate"] for row in strict_json(run_dir / "history.json")]
    assert rates == pytest.approx([1e-3, 1e-4], rel=1e-6)  # each epoch at the rate it trained with
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(1e-4, rel=1e-6)
    assert strict_json(run_dir / "config.json")["learning_rate"] == 1e-4


def test_a_setting_a_resume_cannot_honour_is_refused_and_nothing_is_written(cli, tmp_path):
    run_dir = tmp_path / "run"
    code, _, _ = cli(
        "train", "dense_vae", *TINY_DENSE_CLI, "--limit", 256, "--epochs", 1, "--seed", 0, "--out", run_dir
    )
    assert code == 0
    stored = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**stored, "batch_size": 32, "validation_seed": 3}))

    def files():  # the lock file only says who holds it now
        return {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file() and path.name != ".lock"}

    before = files()
    code, _, err = cli("train", "--resume", run_dir, "--epochs", 2)
    one_error(code, err, "batch_size 32 (trained with 64)", "validation_seed 3 (trained with 0)", "put it back")
    assert files() == before


# -- two processes, one run folder ----------------------------------------------------------------
def test_default_run_folders_are_unique_per_process(tmp_path):
    code = "import sys; from keras_vae.runner import train; print(train.default_run_dir('dense_vae', sys.argv[1]))"
    started = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    names = [process.communicate()[0].strip() for process in started]
    assert names[0] != names[1]  # started in the same second
    first = train.default_run_dir("dense_vae", tmp_path)
    first.mkdir(parents=True)
    assert train.default_run_dir("dense_vae", tmp_path) == first.with_name(first.name + "-2")


def test_a_run_being_trained_is_locked_against_a_second_writer(cli, tmp_path):
    run_dir = tmp_path / "run"
    code, _, _ = cli(
        "train", "dense_vae", *TINY_DENSE_CLI, "--limit", 128, "--epochs", 1, "--seed", 0, "--out", run_dir
    )
    assert code == 0
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from keras_vae.runner import runs\n"
            "with runs.training_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = cli("train", "--resume", run_dir, "--epochs", 2)
        one_error(code, err, f"is being trained by process {holder.pid}", "then --resume it")
        code, _, err = cli("train", "dense_vae", *TINY_DENSE_CLI, "--out", run_dir, "--overwrite")
        one_error(code, err, f"process {holder.pid}")
        assert strict_json(run_dir / "state.json")["epoch"] == 1  # nothing was touched
    finally:
        holder.kill()
        holder.wait()
    code, _, err = cli("train", "--resume", run_dir, "--epochs", 2)  # the killed process left no lock
    assert code == 0, err
    assert strict_json(run_dir / "state.json")["epoch"] == 2


# -- a full disk ----------------------------------------------------------------------------------
def test_a_full_disk_stops_training_in_one_line_naming_the_epoch_to_resume_from(tmp_path, monkeypatch):
    import errno

    run_dir = tmp_path / "run"
    saves = []
    original = keras.Model.save

    def save_until_full(model, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 2:  # the second checkpoint: half a file, then the disk is full
            Path(path).write_bytes(b"PK half a zip")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(model, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_until_full)
    with pytest.raises(
        UserError, match=r"stopped after epoch 2: cannot write checkpoint.keras .*No space left on dev"
    ) as e:
        train.train("dense_vae", {**TINY_DENSE, "epochs": 3}, run_dir=run_dir, seed=0, verbose=0, limit=128)
    assert f"--resume {run_dir}` continues from epoch 1" in str(e.value)
    assert strict_json(run_dir / "state.json")["epoch"] == 1
    assert (
        sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".") and p.name != ".lock") == []
    )  # no temporary left
    runs.load_model(run_dir / "checkpoint.keras")  # epoch 1's checkpoint is whole
    monkeypatch.setattr(keras.Model, "save", original)
    train.resume(run_dir, verbose=0)
    assert strict_json(run_dir / "state.json")["epoch"] == 3


def test_an_os_error_while_writing_outputs_is_one_line(cli, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, _, err = cli("sample", "conv_vae", "--n", 4, "--out", blocker / "samples")
    one_error(code, err, f"{blocker} is a file, not a folder")  # found before any work
    # An OS error found only while writing: one line with the file, the reason and what to try.
    import errno

    from keras_vae.cli import os_error_line

    full = OSError(errno.ENOSPC, "No space left on device", "runs/x/samples.png")
    assert os_error_line(full) == (
        "runs/x/samples.png: No space left on device (the disk is full: free space, or write elsewhere with --out)"
    )


@pytest.mark.parametrize(
    "argv, advice",
    [
        (["sample", "RUN"], "write the samples elsewhere with --out"),
        (["plot", "RUN"], "write the pictures elsewhere with --out"),
        (["evaluate", "RUN"], "evaluate the copy"),
        (["train", "--resume", "RUN", "--epochs", "2"], "resume the copy"),
    ],
)
def test_a_read_only_run_folder_is_refused_before_any_work(argv, advice, tmp_path, monkeypatch):
    """Each command checks its destination before importing TensorFlow (a fresh process: the
    folder is made read-only to it by an os.access that says so, since root may write anywhere)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"class": "VAE", "params": {}}')
    code = (
        "import os, sys; real = os.access; target = sys.argv[1]\n"
        "os.access = lambda path, mode, **k: False if os.path.abspath(path) == target and mode & os.W_OK "
        "else real(path, mode, **k)\n"
        "from keras_vae.cli import main; status = main(sys.argv[2:]); "
        "print('tensorflow' in sys.modules); sys.exit(status)"
    )
    argv = [str(run_dir) if a == "RUN" else a for a in argv]
    result = subprocess.run(
        [sys.executable, "-c", code, str(run_dir), *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and result.stdout.strip() == "False", result.stderr
    line = one_error(2, result.stderr, f"cannot write to {run_dir}", advice)
    assert "no permission" in line or "read-only" in line
