"""Samplers fitted after training (keras_vae/core/mixture.py, flow.py, keras_vae/runner/samplers.py):
the Gaussian mixture against closed forms and SciPy, the flow against a Gaussian's density and
moments, and the `sampler` stage of a run end to end."""

import json
import shutil

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from keras_vae.catalogue.entries import read_entry
from keras_vae.catalogue.registry import model_class
from keras_vae.core import flow, mixture
from keras_vae.core.errors import UserError
from keras_vae.runner import loading, runs, samplers, stages, train

TRUE_WEIGHTS = np.array([0.3, 0.7])
TRUE_MEANS = np.array([[3.0, 0.0, 1.0], [-2.0, 1.0, 0.0]])
TRUE_SCALES = np.array([[[0.5, 0, 0], [0.2, 0.4, 0], [0, 0.1, 0.3]], [[1.0, 0, 0], [-0.5, 0.6, 0], [0.3, 0, 0.2]]])


def two_gaussians(n, rng):
    """n codes [n, 3] from the known mixture TRUE_*."""
    component = rng.choice(2, size=n, p=TRUE_WEIGHTS)
    noise = rng.normal(size=(n, 3))
    return TRUE_MEANS[component] + np.einsum("nij,nj->ni", TRUE_SCALES[component], noise)


def scipy_log_density(fitted, codes):
    """log sum_k w_k N(z; mu_k, Sigma_k), by SciPy (independent of TFP's mixture)."""
    per_component = [
        np.log(w) + stats.multivariate_normal(m, c).logpdf(codes)
        for w, m, c in zip(fitted.weights, fitted.means, fitted.covariances, strict=True)
    ]
    return logsumexp(np.stack(per_component), axis=0)


def test_the_fit_recovers_a_known_mixture_and_chooses_its_k_on_held_out_codes(rng):
    fitted = mixture.fit(two_gaussians(4000, rng), two_gaussians(1000, rng), seed=0)
    assert fitted.components == 2
    assert max(fitted.selection, key=fitted.selection.get) == 2 and set(fitted.selection) == set(mixture.COMPONENTS)
    order = np.argsort(fitted.means[:, 0])[::-1]  # the component at x = 3 first, as TRUE_MEANS
    np.testing.assert_allclose(fitted.weights[order], TRUE_WEIGHTS, atol=0.03)
    np.testing.assert_allclose(fitted.means[order], TRUE_MEANS, atol=0.1)
    true_covariances = TRUE_SCALES @ np.swapaxes(TRUE_SCALES, 1, 2)
    np.testing.assert_allclose(fitted.covariances[order], true_covariances, atol=0.1)
    # Its held-out log-likelihood is within sampling error of the true density's.
    held_out = two_gaussians(2000, rng)
    truth = mixture.GaussianMixture(TRUE_WEIGHTS, TRUE_MEANS, true_covariances)
    assert abs(scipy_log_density(fitted, held_out).mean() - scipy_log_density(truth, held_out).mean()) < 0.05


def test_densities_are_scipys_and_samples_have_the_mixtures_moments(rng):
    fitted = mixture.fit(two_gaussians(3000, rng), None, components=2)
    codes = two_gaussians(50, rng)
    np.testing.assert_allclose(fitted.log_prob(codes).numpy(), scipy_log_density(fitted, codes), rtol=1e-4, atol=1e-4)
    samples = fitted.sample(40_000, seed=3).numpy()
    mean = fitted.weights @ fitted.means
    second = np.einsum("k,kij->ij", fitted.weights, fitted.covariances + np.einsum("ki,kj->kij", *[fitted.means] * 2))
    np.testing.assert_allclose(samples.mean(0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(samples.T), second - np.outer(mean, mean), atol=0.06)
    np.testing.assert_array_equal(fitted.sample(5, seed=3).numpy(), fitted.sample(5, seed=3).numpy())
    assert not np.allclose(fitted.sample(5, seed=3).numpy(), fitted.sample(5, seed=4).numpy())


def test_without_held_out_codes_k_is_the_lowest_bic_and_bad_codes_are_refused(rng):
    from sklearn.mixture import GaussianMixture

    train_codes = two_gaussians(2000, rng)
    fitted = mixture.fit(train_codes, None, seed=0)
    bic = {
        k: GaussianMixture(k, covariance_type="full", random_state=0).fit(train_codes).bic(train_codes)
        for k in (1, 2, 4)
    }
    assert fitted.components == 2 and bic[2] < min(bic[1], bic[4])
    np.testing.assert_allclose(fitted.selection[2], -bic[2] / (2 * len(train_codes)), rtol=1e-6)
    assert mixture.candidates(100, 3) == (1, 2, 4, 8, 16) and mixture.candidates(3, 3) == (1,)
    with pytest.raises(ValueError, match="NaN"):
        mixture.fit(np.where(train_codes > 3, np.nan, train_codes), None)
    with pytest.raises(ValueError, match="shape"):
        mixture.fit(train_codes, train_codes[:, :2])


def test_a_flow_fitted_to_a_gaussian_is_a_normalized_density_with_its_moments(rng):
    covariance = np.array([[1.0, 0.6], [0.6, 0.5]])
    draw = lambda n: rng.multivariate_normal([1.0, -2.0], covariance, size=n)  # noqa: E731
    settings = flow.FlowSettings(2, layers=2, hidden_units=(16, 16), epochs=60, patience=5)
    fitted, history = flow.fit(draw(3000), draw(1000), settings, seed=0)
    assert 1 <= len(history) <= 60 and all(np.isfinite(e["held_out_log_likelihood"]) for e in history)
    # The change of variables is right: the density integrates to 1 over a grid wide enough.
    xs, ys = np.meshgrid(np.linspace(-4, 6, 201), np.linspace(-6, 2, 161))
    grid = np.stack([xs.ravel(), ys.ravel()], 1)
    mass = np.exp(fitted.log_prob(grid).numpy()).sum() * (10 / 200) * (8 / 160)
    assert mass == pytest.approx(1.0, abs=0.02)
    held_out = draw(2000)
    truth = stats.multivariate_normal([1.0, -2.0], covariance).logpdf(held_out).mean()
    assert fitted.log_prob(held_out).numpy().mean() == pytest.approx(truth, abs=0.1)
    samples = fitted.sample(20_000, seed=2).numpy()
    np.testing.assert_allclose(samples.mean(0), [1.0, -2.0], atol=0.06)
    np.testing.assert_allclose(np.cov(samples.T), covariance, atol=0.08)
    np.testing.assert_array_equal(fitted.sample(4, seed=2).numpy(), samples[:4])


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A dense_vae trained one epoch on 512 digits of each split, its sampler fitted."""
    run_dir = tmp_path_factory.mktemp("samplers") / "run"
    settings = {**read_entry("dense_vae")["test_overrides"], "epochs": 1, "dataset": "mnist_5k"}
    train.train("dense_vae", settings, run_dir=run_dir, seed=0, limit=512, verbose=0)
    train.resume(run_dir, stage="sampler", verbose=0)
    return run_dir


def test_the_sampler_stage_fits_the_training_codes_and_the_loaded_model_samples_from_it(vae_run):
    record = json.loads((vae_run / "sampler" / "gmm.json").read_text())
    model = loading.load_run_model(vae_run)
    fitted = samplers.read(vae_run)
    assert record["components"] == fitted.components and record["components_chosen_by"] == "validation"
    assert record["training_codes"] == 512 and str(fitted.components) in record["held_out_log_likelihood"]
    # EM's M-step makes the mixture's mean the mean of the codes fitted: those of the training split.
    config = runs.read_config(vae_run)
    _, data = train.load_data(config)
    codes = samplers.codes(model, data, "train", config)
    np.testing.assert_allclose(fitted.weights @ fitted.means, codes.mean(0), atol=1e-4)
    z = model.latent_samples(6, seed=1, sampler="gmm").numpy()
    np.testing.assert_allclose(z, fitted.sample(6, seed=1).numpy(), rtol=1e-6)
    images = model.sample(6, seed=1, sampler="gmm").numpy()
    np.testing.assert_array_equal(images, model.sample(6, seed=1, sampler="gmm").numpy())
    assert not np.allclose(images, model.sample(6, seed=1).numpy())
    assert model.attached_samplers() == ("gmm", "flow")
    # The flow comes back from its files as it was fitted: its held-out log-likelihood is the recorded one.
    flow_record = json.loads((vae_run / "sampler" / "flow.json").read_text())
    held_out = samplers.codes(model, data, "validation", config)
    assert model.fitted_sampler("flow").log_prob(held_out).numpy().mean() == pytest.approx(
        flow_record["held_out_log_likelihood"], abs=1e-3
    )
    flow_images = model.sample(6, seed=1, sampler="flow").numpy()
    np.testing.assert_array_equal(flow_images, model.sample(6, seed=1, sampler="flow").numpy())
    assert not np.allclose(flow_images, images)


def test_sample_writes_each_samplers_grid_beside_the_prior_one(cli, vae_run):
    for sampler in ("gmm", "flow"):
        code, out, err = cli("sample", vae_run, "--sampler", sampler, "--n", "4")
        assert code == 0, err
        name = f"samples_{sampler}_seed0_n4.png"
        assert (vae_run / name).is_file() and name in out
    code, _, err = cli("sample", vae_run, "--sampler", "maf")
    assert code == 2 and "invalid choice: 'maf'" in err


def test_the_sampler_stage_refuses_what_it_cannot_do(cli, vae_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(vae_run, copy)
    code, _, err = cli("train", "--resume", copy, "--stage", "sampler", "--epochs", "3")
    assert code != 0 and err.startswith("error: ") and "takes no --epochs" in err
    code, _, err = cli("train", "--resume", copy, "--epochs", "2")
    assert code != 0 and "sampler" in err and "stale" in err  # a model trained on outdates its sampler
    (copy / "sampler" / "gmm.npz").write_bytes(b"not an npz")
    code, _, err = cli("sample", copy, "--sampler", "gmm")
    assert code != 0 and err.startswith("error: ") and "gmm.npz does not load" in err
    (copy / "sampler" / "gmm.npz").unlink()
    np.savez(copy / "sampler" / "flow.npz", w0=np.zeros(3))
    code, _, err = cli("sample", copy, "--sampler", "flow")
    assert code != 0 and err.startswith("error: ") and "do not fit the flow" in err
    shutil.rmtree(copy / "sampler")
    code, _, err = cli("sample", copy, "--sampler", "gmm")
    assert code != 0 and "not fitted yet" in err and "--stage sampler" in err
    with pytest.raises(UserError, match="no stage 'sampler'"):
        stages.check(model_class("VQVAE"), "sampler")


def test_the_exported_sampler_gives_pythons_codes_for_the_same_uniforms_and_noise(cli, vae_run, tmp_path):
    import onnxruntime
    import tensorflow as tf

    code, out, err = cli("export", vae_run, "--part", "sampler", "--out", tmp_path)
    assert code == 0 and "max abs error vs Keras" in out, err
    model = loading.load_run_model(vae_run)
    n, seed, d = 32, 5, model.latent_dim
    feeds = {
        "uniform": tf.random.stateless_uniform((n, 1), seed=[seed, 1]).numpy(),
        "noise": tf.random.stateless_normal((n, d), seed=[seed, 0]).numpy(),
    }
    expected = model.latent_samples(n, seed=seed, sampler="gmm").numpy()
    (onnx_file,) = tmp_path.glob("onnx/*_sampler/1/model.onnx")
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (z,) = session.run(["z"], feeds)
    np.testing.assert_allclose(z, expected, atol=1e-5)
    serving = tf.saved_model.load(str(next(tmp_path.glob("*_sampler/1")))).signatures["serving_default"]
    np.testing.assert_allclose(serving(**{k: tf.constant(v) for k, v in feeds.items()})["z"], expected, atol=1e-5)
    # Each u picks the component whose cumulative-weight interval holds it: u just above F_1
    # gives mu_2 + L_2 eps.
    fitted = samplers.read(vae_run)
    if fitted.components > 1:
        cumulative, means, scale_tril = fitted.arrays()
        edge = {"uniform": np.array([[cumulative[0] + 1e-6]], np.float32), "noise": feeds["noise"][:1]}
        np.testing.assert_allclose(
            session.run(["z"], edge)[0][0], means[1] + scale_tril[1] @ edge["noise"][0], atol=1e-5
        )
