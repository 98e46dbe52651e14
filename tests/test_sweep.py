"""`sweep`: one tiny run per setting, on mnist_5k and on a folder of colour images."""

import contextlib
import io
import json
import re

import matplotlib.image
import numpy as np
import pytest
from PIL import Image

from keras_vae.cli import main

TINY = [
    "--set",
    "filters=[4,8]",
    "--set",
    "hidden_dim=16",
    "--set",
    "batch_size=64",
    "--epochs",
    "1",
    "--k",
    "10",
    "--limit",
    "128",
]


def run_sweep(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in args])
    return code, out.getvalue()


def table(report):
    """{run name: [cells]} from the report's Markdown table."""
    rows = [line.strip("|").split("|") for line in report.splitlines() if re.match(r"\| z\d", line)]
    return {cells[0].strip(): [c.strip() for c in cells] for cells in rows if len(cells) == 9}


@pytest.fixture(scope="module")
def mnist_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "mnist"
    code, printed = run_sweep("sweep", "conv_vae", "--latent-dims", "2,5", "--dataset", "mnist_5k", "--out", out, *TINY)
    assert code == 0 and f"report: {out / 'report.md'}" in printed
    return out


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    """40 colour images of 16x16 in two labelled sub-folders: red and blue squares on noise."""
    root = tmp_path_factory.mktemp("colour")
    rng = np.random.default_rng(0)
    for i in range(40):
        label = i % 2
        image = rng.uniform(0, 0.3, size=(16, 16, 3))
        top, left = rng.integers(0, 8, size=2)
        image[top : top + 8, left : left + 8, 2 * label] = 1.0
        (root / f"c{label}").mkdir(exist_ok=True)
        Image.fromarray((image * 255).astype(np.uint8)).save(root / f"c{label}" / f"{i:02d}.png")
    return root


@pytest.mark.slow
def test_sweep_writes_one_evaluated_run_per_latent_size_and_a_report(mnist_sweep):
    report = (mnist_sweep / "report.md").read_text()
    rows = table(report)
    assert set(rows) == {"z2", "z5"}
    for name, latent_dim in (("z2", 2), ("z5", 5)):
        config = json.loads((mnist_sweep / name / "config.json").read_text())
        metrics = json.loads((mnist_sweep / name / "metrics.json").read_text())
        assert config["params"]["latent_dim"] == latent_dim and config["dataset"] == "mnist_5k"
        assert metrics["split_examples"] == 128 and metrics["iwae_k"] == 10
        # Columns: run, latent dim, likelihood, ELBO, IWAE, active units, MSE, train s, eval s.
        cells = rows[name]
        assert cells[1] == str(latent_dim) and cells[2] == "bernoulli"
        assert float(cells[3]) == pytest.approx(metrics["elbo"], abs=0.05)
        assert float(cells[4]) == pytest.approx(metrics["iwae"], abs=0.05)
        assert cells[5] == f"{metrics['active_units']} / {latent_dim}"
        assert float(cells[7]) > 0
        samples = matplotlib.image.imread(mnist_sweep / name / "prior_samples.png")
        assert samples.shape[0] > 100 and samples[..., :3].std() > 0.01
        assert f"]({name}/prior_samples.png)" in report
    assert "k=10" in report and "different likelihoods" not in report  # one likelihood: no warning
    assert [r["name"] for r in json.loads((mnist_sweep / "sweep.json").read_text())] == ["z2", "z5"]


@pytest.mark.slow
def test_sweep_compares_likelihoods_on_a_folder_of_colour_images(tmp_path, colour_folder):
    out = tmp_path / "colour"
    code, _ = run_sweep(
        "sweep",
        "conv_vae",
        "--latent-dims",
        "3",
        "--likelihood",
        "bernoulli,gaussian",
        "--dataset",
        f"folder:{colour_folder}",
        "--out",
        out,
        *TINY,
    )
    assert code == 0
    report = (out / "report.md").read_text()
    assert {"z3-bernoulli", "z3-gaussian"} <= {p.name for p in out.iterdir()}
    gaussian = json.loads((out / "z3-gaussian" / "metrics.json").read_text())
    assert gaussian["likelihood"] == "gaussian" and gaussian["binarization"].startswith("none: Gaussian density")
    assert json.loads((out / "z3-gaussian" / "config.json").read_text())["params"]["image_shape"] == [16, 16, 3]
    assert "| z3-gaussian | 3 | gaussian |" in report and "different likelihoods are not comparable" in report
    samples = matplotlib.image.imread(out / "z3-gaussian" / "prior_samples.png")
    assert samples.shape[-1] in (3, 4) and samples[..., :3].std() > 0.01


def test_sweep_refuses_an_existing_folder_without_overwrite(cli, mnist_sweep):
    before = (mnist_sweep / "report.md").read_bytes()
    code, _, err = cli("sweep", "conv_vae", "--latent-dims", "2", "--out", mnist_sweep)
    assert code == 2 and "--overwrite" in err
    assert (mnist_sweep / "report.md").read_bytes() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--latent-dims", "2,x"], "comma-separated list of ints"),
        (["--latent-dims", "0,2"], "--latent-dims must be >= 1"),
        (["--likelihood", "bernoulli,poisson"], "unknown likelihood 'poisson'"),
        # Checked for every setting before the first run trains: binarize needs bernoulli.
        (["--latent-dims", "2", "--likelihood", "bernoulli,gaussian", "--set", "binarize=true"], "binarize"),
    ],
)
def test_sweep_rejects_bad_settings_before_training_anything(cli, tmp_path, args, message):
    code, _, err = cli("sweep", "conv_vae", "--dataset", "mnist_5k", "--out", tmp_path / "out", *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_sweep_prints_no_tf_function_retracing_warnings(cli, tmp_path, monkeypatch):
    """Every run builds a new model, so new tf.functions, and TF warns about retracing from the
    third run on (seen with three real 1-epoch runs, 60 s here); stand-in runs log that warning."""
    import logging

    from keras_vae.runner import evaluate, train

    class Trained:
        figures = ()  # nothing to sample: the stand-in is not a model
        report_columns = ()

    def fake_train(entry, settings, run_dir, **kwargs):
        logging.getLogger("tensorflow").warning(
            "5 out of the last 5 calls to <function f> triggered tf.function retracing."
        )
        run_dir.mkdir(parents=True)
        return Trained(), run_dir

    metrics = {
        "dataset": "mnist_5k",
        "split": "test",
        "split_examples": 64,
        "likelihood": "bernoulli",
        "binarization": "none",
        "loss": 1.0,
    }
    monkeypatch.setattr(train, "train", fake_train)
    monkeypatch.setattr(evaluate, "evaluate_run", lambda *args, **kwargs: metrics)
    code, _, err = cli(
        "sweep", "dense_vae", "--latent-dims", "2,3,4", "--set", "hidden_sizes=[16]", "--out", tmp_path / "s"
    )
    assert code == 0 and err.count("sweep dense_vae: training") == 3
    assert "retracing" not in err
    assert not logging.getLogger("tensorflow").filters  # muted only while the sweep runs
