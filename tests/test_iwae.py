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

from keras_vae.core import iwae
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
    expected_nll = OBSERVED / 2 * np.log(2 * np.pi * SIGMA**2) + (
        ((x - b - mean @ W.T) ** 2).sum(1) + (var * (W**2).sum(0)).sum()
    ) / (2 * SIGMA**2)
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
    expected = [
        [-vae.reconstruction_nll(x[b : b + 1], vae.decoder(z[s, b : b + 1]))[0] for b in range(5)] for s in range(2)
    ]
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


# -- the iwae entry's objective: -L_k per example, from the model's own networks --------------
def _bernoulli_log_prob(x, logits):
    """NumPy: sum over pixels of x log sigmoid(l) + (1 - x) log sigmoid(-l)."""
    return (-x * np.logaddexp(0, -logits) - (1 - x) * np.logaddexp(0, logits)).sum(-1)


def _normal_log_prob(value, mean, log_var):
    return (-0.5 * (value - mean) ** 2 / np.exp(log_var) - 0.5 * log_var - 0.5 * np.log(2 * np.pi)).sum(-1)


@pytest.fixture
def iwae_case(rng):
    """A tiny IWAE, grey-level images [5, 4, 4, 1] and fixed noise eps [k=4, 5, latent 3]."""
    from keras_vae.models import IWAE

    model = IWAE(architecture="dense", image_shape=(4, 4, 1), latent_dim=3, hidden_sizes=[8], k=4)
    x = rng.uniform(size=(5, 4, 4, 1)).astype(np.float32)
    return model, x, rng.normal(size=(4, 5, 3)).astype(np.float32)


def test_the_iwae_loss_is_the_k_sample_bound_computed_independently(iwae_case):
    from scipy.special import logsumexp

    model, x, eps = iwae_case
    terms = model.loss_terms({"images": x}, eps=eps)
    mean, log_var = (t.numpy().astype(np.float64) for t in model.encoder(x))
    z = mean + np.exp(0.5 * log_var) * eps  # [k, B, latent]
    logits = model.decoder(z.reshape(-1, 3).astype(np.float32)).numpy().reshape(4, 5, -1).astype(np.float64)
    log_px_z = _bernoulli_log_prob(x.reshape(1, 5, -1), logits)
    log_w = log_px_z + _normal_log_prob(z, 0.0, 0.0) - _normal_log_prob(z, mean, log_var)
    bound = logsumexp(log_w, axis=0) - np.log(4)  # L_4 per example (Burda et al. 2016, eq. 8)
    np.testing.assert_allclose(-terms["loss"].numpy(), bound, rtol=1e-5)
    np.testing.assert_allclose(terms["reconstruction"].numpy(), -log_px_z.mean(0), rtol=1e-5)
    assert (terms["loss"].numpy() <= terms["reconstruction"].numpy() + terms["kl"].numpy() + 50).all()


def test_with_k1_the_iwae_loss_is_the_vaes_elbo_at_the_same_noise(iwae_case):
    model, x, eps = iwae_case
    one = type(model).from_config({**model.get_config(), "k": 1})
    one.set_weights(model.get_weights())
    vae = VAE(architecture="dense", image_shape=(4, 4, 1), latent_dim=3, hidden_sizes=[8])
    vae.set_weights(model.get_weights())
    iw, elbo = one.loss_terms({"images": x}, eps=eps[:1]), vae.loss_terms({"images": x}, eps=eps[0])
    np.testing.assert_allclose(iw["reconstruction"], elbo["reconstruction"], rtol=1e-6)
    np.testing.assert_allclose(iw["kl"], elbo["kl"], rtol=1e-6)
    # -L_1 = -log p(x|z) + log q(z|x) - log p(z): the VAE's -ELBO with its KL sampled at the same z
    # (the VAE's is in closed form; the two agree in expectation over the noise).
    mean, log_var = (t.numpy().astype(np.float64) for t in vae.encoder(x))
    z = mean + np.exp(0.5 * log_var) * eps[0]
    sampled_kl = _normal_log_prob(z, mean, log_var) - _normal_log_prob(z, 0.0, 0.0)
    np.testing.assert_allclose(iw["loss"], elbo["reconstruction"].numpy() + sampled_kl, rtol=1e-5)
