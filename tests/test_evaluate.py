"""`evaluate`: every number against an independent computation on small models."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from keras_vae.models import VAE, BetaVAE, ContractiveAE, DenoisingAE, SparseAE
from keras_vae.models.vae.vae import active_units
from keras_vae.runner import evaluate, train

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return rng.uniform(size=(300, *SHAPE)).astype(np.float32) ** 3  # mostly dark, like digits


def numpy_bce(x, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=(1, 2, 3))


def test_active_units_counts_variances_above_the_threshold():
    means = np.stack([np.full(50, 3.0), np.linspace(-1, 1, 50), np.linspace(-0.1, 0.1, 50)], axis=1)
    count, activity = active_units(means)
    np.testing.assert_allclose(activity, [0.0, np.var(np.linspace(-1, 1, 50)), np.var(np.linspace(-0.1, 0.1, 50))])
    assert count == 1  # the constant unit and the one of variance ~0.0035 are inactive


def test_units_collapsed_to_the_prior_are_inactive_and_cost_no_kl(images):
    vae = VAE(architecture="dense", image_shape=SHAPE, latent_dim=6, hidden_sizes=[16], seed=0)
    collapsed = [0, 2, 5]
    mean_layer, log_var_layer = vae.encoder.get_layer("z_mean"), vae.encoder.get_layer("z_log_var")
    kernel, bias = mean_layer.get_weights()
    kernel *= 10.0  # the others clearly vary with x
    kernel[:, collapsed], bias[collapsed] = 0.0, 0.0
    mean_layer.set_weights([kernel, bias])
    kernel, bias = log_var_layer.get_weights()
    kernel[:, collapsed], bias[collapsed] = 0.0, 0.0  # q(z_i | x) = N(0, 1) = p(z_i) for every x
    log_var_layer.set_weights([kernel, bias])

    metrics = evaluate.evaluate_model(vae, {"images": images}, batch_size=64, k=0)

    means = vae.encode(images)[0].numpy()
    np.testing.assert_allclose(metrics["activity_per_dim"], means.var(axis=0), rtol=1e-4, atol=1e-7)
    assert metrics["active_units"] == 3 and metrics["latent_dim"] == 6
    kl = np.asarray(metrics["kl_per_dim"])
    np.testing.assert_allclose(kl[collapsed], 0.0, atol=1e-6)
    assert (np.delete(kl, collapsed) > 0.01).all()
    assert metrics["kl"] == pytest.approx(kl.sum(), rel=1e-4)


def test_vae_metrics_match_independent_computations(images):
    vae = VAE(architecture="dense", image_shape=SHAPE, latent_dim=3, hidden_sizes=[16], seed=0)
    metrics = evaluate.evaluate_model(vae, {"images": images}, batch_size=128, k=50)
    assert metrics["split_examples"] == 300 and metrics["iwae_k"] == 50
    assert metrics["elbo"] == pytest.approx(-(metrics["reconstruction"] + metrics["kl"]), rel=1e-5)
    assert metrics["loss"] == pytest.approx(-metrics["elbo"], rel=1e-5)
    # With 50 samples the bound is tighter than the ELBO (by far more than the noise here).
    assert metrics["iwae"] > metrics["elbo"]
    p = tf.sigmoid(vae.decoder(vae.encode(images)[0])).numpy()
    assert metrics["bce"] == pytest.approx(numpy_bce(images, p).mean(), rel=1e-4)
    assert metrics["mse"] == pytest.approx(((images - p) ** 2).mean(), rel=1e-4)
    assert metrics["binarization"].startswith("none") and "not a normalized density" in metrics["binarization"]
    # Everything is drawn from the seed: a second evaluation repeats exactly.
    assert evaluate.evaluate_model(vae, {"images": images}, batch_size=128, k=50) == metrics


def test_beta_vae_reports_the_elbo_not_its_reweighted_loss(images):
    model = BetaVAE(image_shape=SHAPE, latent_dim=3, beta=4.0, filters=[4, 8], hidden_dim=8, seed=0)
    metrics = evaluate.evaluate_model(model, {"images": images}, batch_size=128, k=5)
    assert metrics["loss"] == pytest.approx(metrics["reconstruction"] + 4.0 * metrics["kl"], rel=1e-5)
    assert metrics["elbo"] == pytest.approx(-(metrics["reconstruction"] + metrics["kl"]), rel=1e-5)
    assert not [name for name in metrics if name.startswith("kl_") and name != "kl_per_dim"]  # once, as a list
    assert len(metrics["kl_per_dim"]) == 3


def test_denoising_errors_on_fully_masked_inputs_are_those_of_the_blank_image(images):
    model = DenoisingAE(image_shape=SHAPE, latent_dim=5, corruption="masking", noise_level=1.0, seed=0)
    metrics = evaluate.evaluate_model(model, {"images": images}, batch_size=128)
    p_blank = tf.sigmoid(model.decoder(model.code(np.zeros((1, *SHAPE), np.float32)))).numpy()
    assert metrics["corrupted_bce"] == pytest.approx(numpy_bce(images, p_blank).mean(), rel=1e-4)
    assert metrics["corrupted_mse"] == pytest.approx(((images - p_blank) ** 2).mean(), rel=1e-4)
    clean = DenoisingAE(image_shape=SHAPE, latent_dim=5, noise_level=0.0, seed=0)
    metrics = evaluate.evaluate_model(clean, {"images": images}, batch_size=128)
    assert metrics["corrupted_bce"] == pytest.approx(metrics["bce"], rel=1e-6)  # nothing corrupted


def test_sparse_activity_is_the_code_statistics(images):
    model = SparseAE(image_shape=SHAPE, latent_dim=7, seed=0)
    metrics = evaluate.evaluate_model(model, {"images": images}, batch_size=100)
    code = tf.sigmoid(
        tf.reshape(images, [len(images), -1]) @ model.encoder.get_layer("code").kernel
        + model.encoder.get_layer("code").bias
    ).numpy()
    assert metrics["mean_activation"] == pytest.approx(code.mean(), rel=1e-5)
    assert metrics["active_fraction"] == pytest.approx((code > 0.5).mean(), rel=1e-5)


def test_contractive_measure_is_the_jacobian_norm_on_test_inputs(images):
    model = ContractiveAE(image_shape=SHAPE, latent_dim=4, seed=0)
    metrics = evaluate.evaluate_model(model, {"images": images[:50]}, batch_size=50)
    x = tf.constant(images[:50])
    with tf.GradientTape() as tape:
        tape.watch(x)
        code = model.code(x)
    jacobian = tape.batch_jacobian(code, x).numpy()
    assert metrics["contractive"] == pytest.approx((jacobian**2).sum(axis=(1, 2, 3, 4)).mean(), rel=1e-4)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    overrides = {
        "dataset": "mnist_5k",
        "latent_dim": 2,
        "filters": [4, 8],
        "hidden_dim": 16,
        "epochs": 1,
        "batch_size": 64,
        "binarize": True,
    }
    _, run_dir = train.train(
        "conv_vae", overrides, run_dir=tmp_path_factory.mktemp("eval") / "run", seed=0, verbose=0, limit=256
    )
    return run_dir


def test_evaluate_command_prints_the_table_and_writes_metrics_json(cli, run_dir):
    code, out, err = cli("evaluate", run_dir, "--limit", "100", "--k", "20")
    assert code == 0, err
    written = json.loads((run_dir / "metrics.json").read_text())
    assert written["dataset"] == "mnist_5k" and written["split"] == "test" and written["split_examples"] == 100
    assert written["binarization"].startswith("binarized") and written["iwae_k"] == 20
    rows = dict(line.split()[:2] for line in out.splitlines() if len(line.split()) == 2)
    for name in ("elbo", "iwae", "reconstruction", "kl", "bce"):
        assert float(rows[name]) == pytest.approx(written[name], abs=1e-4)
    assert "binarized" in out and "k=20 samples" in out and f"wrote {run_dir / 'metrics.json'}" in out
    assert not [p for p in run_dir.iterdir() if ".tmp" in p.name]


def test_evaluate_rejects_bad_numbers(cli, run_dir):
    for args, message in ((["--k", "-1"], "--k must be >= 0"), (["--limit", "0"], "--limit must be >= 1")):
        code, _, err = cli("evaluate", run_dir, *args)
        assert code == 2 and message in err and "Traceback" not in err


def test_a_shipped_zoo_entry_is_evaluated_but_never_written_into(cli, run_dir, tmp_path, monkeypatch):
    zoo = tmp_path / "zoo"
    shutil.copytree(run_dir, zoo / "tiny" / "pretrained")
    shutil.copy(run_dir / "config.json", zoo / "tiny" / "config.json")
    (zoo / "tiny" / "pretrained" / "metrics.json").unlink(missing_ok=True)
    monkeypatch.setenv("KERAS_VAE_ZOO", str(zoo))
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("evaluate", "tiny", "--limit", "20", "--k", "2")
    assert code == 0, err
    assert json.loads((tmp_path / "runs" / "tiny" / "pretrained" / "metrics.json").read_text())["split_examples"] == 20
    assert not (zoo / "tiny" / "pretrained" / "metrics.json").exists()
    assert "wrote runs/tiny/pretrained/metrics.json" in out


def test_evaluate_writes_the_models_headline_and_list_prints_it(cli, run_dir, tmp_path, monkeypatch):
    from keras_vae.runner import loading

    zoo = tmp_path / "zoo"
    shipped = zoo / "tiny" / "pretrained"
    shutil.copytree(run_dir, shipped)
    shutil.copy(run_dir / "config.json", zoo / "tiny" / "config.json")
    (shipped / "metrics.json").unlink(missing_ok=True)
    copy = shutil.copytree(run_dir, tmp_path / "run")
    evaluate.evaluate_run(copy, limit=50, k=5, overwrite=True)
    written = json.loads((copy / "metrics.json").read_text())
    headline = written.pop("headline")
    assert headline == loading.load_run_model(copy).headline(written)
    assert headline[0] == f"ELBO {written['elbo']:.1f}" and all(isinstance(part, str) for part in headline)
    shutil.copy(copy / "metrics.json", shipped / "metrics.json")
    monkeypatch.setenv("KERAS_VAE_ZOO", str(zoo))
    code, out, _ = cli("list")
    assert code == 0
    assert "mnist_5k: " + ", ".join(headline) in out.splitlines()[1]
