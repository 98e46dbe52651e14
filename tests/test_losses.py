"""Likelihoods and KL against independent computations (NumPy/SciPy closed forms and TFP)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import stats

from keras_vae.core import losses
from keras_vae.models import VAE


def test_bernoulli_log_prob_matches_numpy_cross_entropy(rng):
    x = rng.uniform(size=(5, 4, 4, 1)).astype(np.float32)  # non-binary targets, as for grey images
    logits = rng.normal(scale=3.0, size=x.shape).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(losses.bernoulli_log_prob(x, logits), expected, rtol=1e-5)


def test_bernoulli_log_prob_is_stable_for_large_logits():
    x = np.array([[1.0, 0.0]], np.float32)
    logits = np.array([[200.0, -200.0]], np.float32)  # sigmoid rounds to exactly 1 and 0
    np.testing.assert_allclose(losses.bernoulli_log_prob(x, logits), [0.0], atol=1e-6)


def test_gaussian_log_prob_matches_scipy(rng):
    x = rng.uniform(size=(3, 2, 2, 3)).astype(np.float32)
    mean = rng.uniform(size=x.shape).astype(np.float32)
    log_sigma = np.log([0.1, 0.2, 0.5]).astype(np.float32)  # one sigma per channel
    expected = stats.norm.logpdf(x, mean, np.exp(log_sigma)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(losses.gaussian_log_prob(x, mean, log_sigma), expected, rtol=1e-5)


def test_kl_matches_closed_form_and_tfp_multivariate(rng):
    mean = rng.normal(size=(6, 5)).astype(np.float32)
    log_var = rng.normal(size=(6, 5)).astype(np.float32)
    closed_form = 0.5 * (np.exp(log_var) + mean**2 - 1 - log_var).sum(axis=1)
    tfd = tfp.distributions
    mvn = tfd.kl_divergence(
        tfd.MultivariateNormalDiag(mean, tf.exp(0.5 * log_var)),
        tfd.MultivariateNormalDiag(tf.zeros_like(mean), tf.ones_like(mean)),
    )
    np.testing.assert_allclose(losses.gaussian_kl_per_dim(mean, log_var).numpy().sum(axis=1), closed_form, rtol=1e-5)
    np.testing.assert_allclose(losses.gaussian_kl_per_dim(mean, log_var).numpy().sum(axis=1), mvn, rtol=1e-5)
    assert losses.gaussian_kl_per_dim(mean, log_var).shape == (6, 5)


def test_kl_is_zero_at_the_prior():
    np.testing.assert_allclose(
        losses.gaussian_kl_per_dim(np.zeros((2, 3)), np.zeros((2, 3))).numpy().sum(axis=1), [0.0, 0.0], atol=1e-7
    )


def _constant_vae(likelihood, z_mean=1.0, z_log_var=0.0, pixel=0.0):
    """A 2x2 VAE whose kernels are zero: every output is a bias, so the ELBO is known by hand."""
    model = VAE(architecture="dense", image_shape=(2, 2, 1), latent_dim=1, hidden_sizes=[3], likelihood=likelihood)
    for weight in model.trainable_weights:
        weight.assign(np.zeros(weight.shape, np.float32))
    model.encoder.get_layer("z_mean").bias.assign([z_mean])
    model.encoder.get_layer("z_log_var").bias.assign([z_log_var])
    model.decoder.get_layer("pixels").bias.assign(np.full(4, pixel, np.float32))
    return model


@pytest.mark.parametrize(
    "likelihood, reconstruction",
    [
        # Bernoulli, logit 0: -log p = log 2 per pixel, 4 pixels.
        ("bernoulli", 4 * np.log(2)),
        # Gaussian, mean sigmoid(0) = 0.5, sigma 0.1, |x - mean| = 0.5 at every pixel:
        # -log N = log(sigma) + log(2 pi) / 2 + 0.25 / (2 sigma^2) per pixel.
        ("gaussian", 4 * (np.log(0.1) + 0.5 * np.log(2 * np.pi) + 0.25 / 0.02)),
    ],
)
def test_elbo_per_example_equals_hand_derived_value(likelihood, reconstruction):
    model = _constant_vae(likelihood, z_mean=1.0, z_log_var=0.0)
    x = np.array([1, 0, 1, 0], np.float32).reshape(1, 2, 2, 1)
    terms = model.loss_terms({"images": x})
    kl = 0.5 * (np.exp(0.0) + 1.0**2 - 1 - 0.0)  # = 0.5
    np.testing.assert_allclose(terms["reconstruction"], [reconstruction], rtol=1e-6)
    np.testing.assert_allclose(terms["kl"], [kl], rtol=1e-6)
    np.testing.assert_allclose(terms["loss"], [reconstruction + kl], rtol=1e-6)


def test_gradients_flow_through_the_sampling_to_the_encoder(rng):
    model = VAE(architecture="dense", image_shape=(4, 4, 1), latent_dim=2, hidden_sizes=[8])
    x = rng.uniform(size=(16, 4, 4, 1)).astype(np.float32)
    log_var_kernel = model.encoder.get_layer("z_log_var").kernel
    with tf.GradientTape() as tape:
        # The reconstruction term reaches log_var only through z = mean + exp(log_var / 2) * eps.
        reconstruction = tf.reduce_mean(model.loss_terms({"images": x}, training=True)["reconstruction"])
    gradients, log_var_gradient = tape.gradient(reconstruction, [model.encoder.trainable_weights, log_var_kernel])
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in gradients)
    assert np.abs(log_var_gradient.numpy()).max() > 0


def test_fixed_noise_makes_the_loss_deterministic(rng):
    model = VAE(architecture="dense", image_shape=(4, 4, 1), latent_dim=2, hidden_sizes=[8])
    x = rng.uniform(size=(3, 4, 4, 1)).astype(np.float32)
    eps = rng.normal(size=(3, 2)).astype(np.float32)
    first, second = model.loss_terms({"images": x}, eps=eps), model.loss_terms({"images": x}, eps=eps)
    np.testing.assert_array_equal(first["loss"], second["loss"])
    assert not np.allclose(model.loss_terms({"images": x})["loss"], model.loss_terms({"images": x})["loss"])
