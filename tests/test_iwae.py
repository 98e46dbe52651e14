"""The importance-weighted estimator against a linear-Gaussian model with a closed-form log p(x).

z ~ N(0, I_d), x | z ~ N(Wz + b, sigma^2 I):  p(x) = N(b, WW^T + sigma^2 I) (SciPy), and the
ELBO of a diagonal Gaussian q has a closed form (NumPy). q is the mean-field fit to the exact
posterior: the right mean, but variances 1 / diag(precision), so the ELBO is strictly below log p(x).
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import stats

from keras_vae import iwae
from keras_vae.models import VAE

tfd = tfp.distributions
LATENT, OBSERVED, SIGMA = 2, 6, 0.5


@pytest.fixture(scope="module")
def linear_gaussian():
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(OBSERVED, LATENT)), rng.normal(size=OBSERVED)
    marginal = W @ W.T + SIGMA**2 * np.eye(OBSERVED)
    x = rng.multivariate_normal(b, marginal, size=2000)
    precision = np.eye(LATENT) + W.T @ W / SIGMA**2
    to_mean = W @ np.linalg.inv(precision).T / SIGMA**2  # posterior mean = (x - b) @ to_mean
    var = 1 / np.diag(precision)

    def posterior(x):
        mean = tf.matmul(x - b.astype(np.float32), to_mean.astype(np.float32))
        return tfd.MultivariateNormalDiag(mean, np.sqrt(var).astype(np.float32) * tf.ones_like(mean))

    def log_likelihood(x, z):
        mean = tf.einsum("sbd,od->sbo", z, W.astype(np.float32)) + b.astype(np.float32)
        return tfd.MultivariateNormalDiag(mean, SIGMA * tf.ones(OBSERVED)).log_prob(x)

    model = iwae.LatentModel(posterior, tfd.MultivariateNormalDiag(tf.zeros(LATENT)), log_likelihood)
    mean = (x - b) @ to_mean
    expected_nll = (
        OBSERVED / 2 * np.log(2 * np.pi * SIGMA**2)
        + (((x - b - mean @ W.T) ** 2).sum(1) + (var * (W**2).sum(0)).sum()) / (2 * SIGMA**2)
    )
    kl = 0.5 * (var + mean**2 - 1 - np.log(var)).sum(1)
    return {
        "model": model,
        "x": tf.constant(x, tf.float32),
        "log_px": stats.multivariate_normal(b, marginal).logpdf(x),
        "elbo": -expected_nll - kl,
    }


def test_the_fixture_elbo_is_strictly_below_log_px(linear_gaussian):
    gap = linear_gaussian["log_px"] - linear_gaussian["elbo"]
    assert gap.min() > 0 and gap.mean() > 0.1  # else the k-dependence below would test nothing


def test_estimate_rises_with_k_towards_log_px_from_below(linear_gaussian):
    se = lambda d: d.std() / np.sqrt(len(d))  # noqa: E731  (standard error of a mean)
    diffs = [
        iwae.iwae(linear_gaussian["model"], linear_gaussian["x"], k, seed=k).numpy() - linear_gaussian["log_px"]
        for k in (1, 10, 100, 1000)
    ]
    gaps = [d.mean() for d in diffs]
    # Below log p(x) up to Monte Carlo noise, at every k.
    assert all(d.mean() < 3 * se(d) for d in diffs), gaps
    # Strictly rising: each step beats the noise of the paired per-example difference (from 100
    # to 1000 the rise, ~0.01 nats, is only ~3 such errors, so there the means are compared).
    assert all((b - a).mean() > 3 * se(b - a) for a, b in zip(diffs[:3], diffs[1:3])), gaps
    assert gaps[2] < gaps[3] and abs(gaps[3]) < 0.01, gaps


def test_k1_equals_the_closed_form_elbo_in_expectation(linear_gaussian):
    x = tf.tile(linear_gaussian["x"], [5, 1])  # five independent draws per example
    diff = iwae.iwae(linear_gaussian["model"], x, k=1).numpy() - np.tile(linear_gaussian["elbo"], 5)
    assert abs(diff.mean()) < 4 * diff.std() / np.sqrt(len(diff)), diff.mean()


def test_estimate_repeats_for_a_seed_and_ignores_how_the_work_is_cut(linear_gaussian):
    model, x = linear_gaussian["model"], linear_gaussian["x"][:40]
    whole = iwae.iwae(model, x, k=50, seed=3, max_decodes=4000).numpy()
    np.testing.assert_array_equal(whole, iwae.iwae(model, x, k=50, seed=3, max_decodes=4000).numpy())
    # Cut into 20 chunks of 5 samples, the draws differ but the estimate agrees statistically.
    cut = iwae.iwae(model, x, k=50, seed=4, max_decodes=5).numpy()
    assert cut.shape == whole.shape and abs(cut.mean() - whole.mean()) < 0.05


def test_vae_adapter_pairs_each_sample_with_its_own_example(rng):
    vae = VAE(architecture="dense", image_shape=(4, 4, 1), latent_dim=3, hidden_sizes=[8])
    x = (rng.uniform(size=(5, 4, 4, 1)) > 0.5).astype(np.float32)
    z = rng.normal(size=(2, 5, 3)).astype(np.float32)
    got = vae.latent_model().log_likelihood({"images": x}, z).numpy()
    expected = [[-vae.reconstruction_nll(x[b : b + 1], vae.decoder(z[s, b : b + 1]))[0] for b in range(5)] for s in range(2)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_vae_adapter_k1_matches_the_models_own_elbo(rng):
    vae = VAE(architecture="dense", image_shape=(4, 4, 1), latent_dim=3, hidden_sizes=[8])
    x = (rng.uniform(size=(1, 4, 4, 1)) > 0.5).astype(np.float32)
    many = np.repeat(x, 4000, axis=0)
    estimate = iwae.iwae(vae.latent_model(), {"images": many}, k=1).numpy()
    terms = vae.loss_terms({"images": many})
    elbo = -(terms["reconstruction"] + terms["kl"]).numpy()
    # Both are unbiased single-sample estimates of one number (the KL: sampled vs analytic).
    assert abs(estimate.mean() - elbo.mean()) < 4 * np.hypot(estimate.std(), elbo.std()) / np.sqrt(4000)
