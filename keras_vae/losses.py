"""Likelihoods and KL terms, thin over TensorFlow Probability.

Everything returns one value per example (summed over pixels or latent dimensions) in float32,
whatever the compute dtype of the model, so mixed precision never touches the objective.
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

LIKELIHOODS = ("bernoulli", "gaussian")


def _float32(*tensors):
    return [tf.cast(t, tf.float32) for t in tensors]


def _per_example(distribution, x):
    """Treat every non-batch axis as part of the event, so log_prob is one number per example."""
    event_ndims = len(x.shape) - 1
    return tfd.Independent(distribution, reinterpreted_batch_ndims=event_ndims).log_prob(x)


def bernoulli_log_prob(x, logits):
    """log p(x | logits) for x in [0, 1] (the cross-entropy form for non-binary x)."""
    x, logits = _float32(x, logits)
    return _per_example(tfd.Bernoulli(logits=logits, dtype=tf.float32), x)


def gaussian_log_prob(x, mean, log_sigma):
    """log N(x; mean, sigma^2), sigma = exp(log_sigma) broadcast over pixels."""
    x, mean, log_sigma = _float32(x, mean, log_sigma)
    return _per_example(tfd.Normal(loc=mean, scale=tf.exp(log_sigma)), x)


def gaussian_kl_per_dim(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, 1)) for every latent dimension: shape [batch, latent]."""
    per_dim_posterior = diagonal_normal(mean, log_var).distribution
    return tfd.kl_divergence(per_dim_posterior, tfd.Normal(loc=0.0, scale=1.0))


def diagonal_normal(mean, log_var):
    """q(z|x) = N(mean, diag(exp(log_var))) as one distribution per example (event = latent)."""
    mean, log_var = _float32(mean, log_var)
    return tfd.Independent(tfd.Normal(loc=mean, scale=tf.exp(0.5 * log_var)), reinterpreted_batch_ndims=1)


def standard_normal(latent_dim):
    """The prior p(z) = N(0, I) over `latent_dim` dimensions."""
    return tfd.Independent(tfd.Normal(loc=tf.zeros(latent_dim), scale=1.0), reinterpreted_batch_ndims=1)
