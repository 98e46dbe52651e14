"""SavedModel export for TF Serving, checked with TensorFlow's own `saved_model_cli`, and the
export command's versioning and bad-input handling."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")
TINY = {"epochs": 1, "dataset": "mnist_5k", "latent_dim": 4, "filters": [4, 8], "hidden_dim": 16}
LATENT, IMAGE = 4, (28, 28, 1)


def tool(*args):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def snapshot(folder):
    """{relative path: sha1} of every file under folder: proves an export left it untouched."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    from keras_vae.runner import train

    _, run_dir = train.train(
        "conv_vae", TINY, run_dir=tmp_path_factory.mktemp("sm") / "run", seed=0, limit=256, verbose=0
    )
    return run_dir


@pytest.fixture(scope="session")
def exported(run_dir):
    """`export RUN --part all --format savedmodel` through the CLI in a fresh process, which also
    prints the keras_vae modules it imported."""
    out = run_dir.parent / "out"
    code = (
        "import json, sys; from keras_vae.cli import main; code = main(sys.argv[1:]); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('keras_vae')))); sys.exit(code)"
    )
    stdout = tool(
        sys.executable, "-c", code, "export", run_dir, "--part", "all", "--format", "savedmodel", "--out", out
    )
    return out, stdout


@pytest.fixture(scope="session")
def model(run_dir):
    from keras_vae.runner import loading

    return loading.load_run_model(run_dir)


def test_export_reports_parity_and_imports_no_training_code(exported):
    out, stdout = exported
    *report, modules = stdout.strip().splitlines()
    assert "keras_vae.export" in json.loads(modules) and "keras_vae.runner.train" not in json.loads(modules)
    assert sum("max abs error vs Keras" in line for line in report) == 2  # decoder and encoder


def test_tf_serving_layout(exported):
    out, _ = exported
    for name in ("conv_vae_decoder", "conv_vae_encoder"):
        version = out / name / "1"
        assert (version / "saved_model.pb").is_file() and (version / "variables" / "variables.index").is_file()
        assert json.loads((version / "assets.extra" / "keras_vae.json").read_text())["latent_dim"] == LATENT
    assert sorted(p.name for p in out.iterdir()) == ["conv_vae_decoder", "conv_vae_encoder"]  # no staging left


def signature(show_output):
    """{'inputs'|'outputs': {name: (dtype, shape)}} of serving_default from `saved_model_cli show --all`."""
    block = show_output.split("signature_def['serving_default']:")[1].split("Method name is:")[0]
    found = {"inputs": {}, "outputs": {}}
    for kind, name, dtype, shape in re.findall(
        r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: \(([^)]*)\)", block
    ):
        found[kind][name] = (dtype, tuple(int(s) for s in shape.split(",") if s.strip()))
    return found


@pytest.fixture(scope="session")
def inputs(mnist_5k):
    x = np.random.default_rng(1).standard_normal((64, LATENT)).astype(np.float32)
    return {"decoder": ("z", x), "encoder": ("images", mnist_5k.x_test[:64])}  # real digits


@pytest.fixture(scope="session")
def saved_model_cli(exported, inputs):
    """`saved_model_cli show --all` and `run` on both exports, the four processes at once (each
    spends seconds importing TensorFlow). Returns {(command, part): stdout or outdir}."""
    out, _ = exported
    work = out.parent / "cli"
    jobs = {}
    for part, (name, x) in inputs.items():
        folder = out / f"conv_vae_{part}" / "1"
        (work / part).mkdir(parents=True)
        np.save(work / part / "x.npy", x)
        jobs["show", part] = [SAVED_MODEL_CLI, "show", "--all", "--dir", folder]
        jobs["run", part] = [
            SAVED_MODEL_CLI,
            "run",
            "--dir",
            folder,
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            f"{name}={work / part / 'x.npy'}",
            "--outdir",
            work / part / "got",
        ]
    running = {
        key: subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for key, args in jobs.items()
    }
    results = {}
    for key, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, (key, stderr[-2000:])
        results[key] = stdout if key[0] == "show" else work / key[1] / "got"
    return results


@pytest.mark.parametrize(
    "part, expected",
    [
        ("decoder", {"inputs": {"z": ("DT_FLOAT", (-1, LATENT))}, "outputs": {"images": ("DT_FLOAT", (-1, *IMAGE))}}),
        (
            "encoder",
            {
                "inputs": {"images": ("DT_FLOAT", (-1, *IMAGE))},
                "outputs": {"z_mean": ("DT_FLOAT", (-1, LATENT)), "z_log_var": ("DT_FLOAT", (-1, LATENT))},
            },
        ),
    ],
)
def test_saved_model_cli_show(saved_model_cli, part, expected):
    shown = saved_model_cli["show", part]
    assert "MetaGraphDef with tag-set: 'serve'" in shown
    assert signature(shown) == expected
    assert "Method name is: tensorflow/serving/predict" in shown
    ops = re.search(r"contains the following ops: \{(.*)\}", shown).group(1)
    assert "'MatMul'" in ops and "Random" not in ops  # deterministic: noise is the caller's input


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_saved_model_cli_run_reproduces_keras(saved_model_cli, inputs, model, part):
    _, x = inputs[part]
    if part == "decoder":
        expected = {"images": model.decode(x).numpy()}
    else:
        mean, log_var = model.encode(x)
        expected = {"z_mean": mean.numpy(), "z_log_var": log_var.numpy()}
    for key, want in expected.items():
        got = np.load(saved_model_cli["run", part] / f"{key}.npy")
        assert got.dtype == np.float32 and got.shape == want.shape
        assert np.max(np.abs(got - want)) <= 1e-6
    if part == "decoder":
        assert 0.0 <= got.min() and got.max() <= 1.0 and got.std() > 0  # the decoder mean, sigmoid applied


def test_random_op_check_can_fire():
    import tensorflow as tf

    from keras_vae.export.verify import random_ops

    noisy = tf.function(lambda z: z + tf.random.normal(tf.shape(z))).get_concrete_function(tf.TensorSpec([None, 2]))
    assert random_ops(noisy.graph.as_graph_def()) == ["RandomStandardNormal"]


def test_next_version_never_overwrites(run_dir, tmp_path, cli):
    out = tmp_path / "out"
    assert cli("export", run_dir, "--format", "savedmodel", "--out", out)[0] == 0
    before = snapshot(out)
    code, stdout, _ = cli("export", run_dir, "--format", "savedmodel", "--out", out)
    assert code == 0 and "conv_vae_decoder v2" in stdout
    assert sorted(p.name for p in (out / "conv_vae_decoder").iterdir()) == ["1", "2"]
    assert {k: v for k, v in snapshot(out).items() if k.startswith("conv_vae_decoder/1/")} == before
    assert cli("export", run_dir, "--format", "savedmodel", "--out", out, "--version", "7")[0] == 0
    assert (out / "conv_vae_decoder" / "7" / "saved_model.pb").is_file()


@pytest.fixture
def bad_inputs(run_dir, tmp_path):
    """name -> (extra CLI args, text the one-line error must contain); OUT holds version 1."""
    from keras_vae.export import export_run

    out = tmp_path / "out"
    export_run(run_dir, formats="savedmodel", out=out)
    empty_run = tmp_path / "empty_run"
    empty_run.mkdir()
    (empty_run / "config.json").write_text((run_dir / "config.json").read_text())
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "plain").mkdir()  # a folder holding no run (one holding runs means its latest)
    return out, {
        "missing run": ([tmp_path / "nope", "--out", out], "run folder not found"),
        "untrained run": ([empty_run, "--out", out], "holds no trained model"),
        "not a run": ([tmp_path / "plain", "--out", out], "not a run folder"),
        "unknown part": (
            [run_dir, "--out", out, "--part", "middle"],
            "unknown --part 'middle'; choose from decoder, encoder, all",
        ),
        "unknown format": ([run_dir, "--out", out, "--format", "tflite"], "invalid choice"),
        "out is a file": ([run_dir, "--out", tmp_path / "a_file"], "is an existing file"),
        "version exists": ([run_dir, "--out", out, "--version", "1"], "version 1 of conv_vae_decoder already exists"),
        "version zero": ([run_dir, "--out", out, "--version", "0"], "--version must be >= 1"),
    }


def test_bad_input_is_one_line_exit_2_and_touches_nothing(cli, bad_inputs, tmp_path):
    out, cases = bad_inputs
    before = snapshot(tmp_path)
    for name, (args, message) in cases.items():
        code, stdout, stderr = cli("export", *args)
        assert code == 2, name
        assert len(stderr.strip().splitlines()) == 1 and message in stderr, (name, stderr)
        assert snapshot(tmp_path) == before, name
