"""Likelihoods and KL terms, thin over TensorFlow Probability.

Everything returns one value per example (summed over pixels or latent dimensions) in float32,
whatever the compute dtype of the model, so mixed precision never touches the objective.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

LIKELIHOODS = ("bernoulli", "gaussian")

# The decoder's Gaussian sigma is floored at SIGMA_MIN (pixels in [0, 1]). Without a floor, a
# learned sigma of a channel that is constant (or nearly so) in the data collapses towards 0 and
# its density, -log(sigma) - log(2 pi) / 2 per pixel, grows without bound: the loss ran to -15,000
# nats per image, then NaN. 1e-3 is about the standard deviation of 8-bit quantization noise
# (1 / 255 / sqrt(12) = 1.1e-3): a narrower density only models the quantization grid. So the
# log-likelihood is at most LOG_PROB_MAX_PER_PIXEL = -log(1e-3) - log(2 pi) / 2 = 5.99 nats per pixel.
SIGMA_MIN = 1e-3
LOG_SIGMA_MIN = math.log(SIGMA_MIN)
LOG_PROB_MAX_PER_PIXEL = -LOG_SIGMA_MIN - 0.5 * math.log(2 * math.pi)
# The encoder's log-variance is clamped to [LOG_VAR_MIN, LOG_VAR_MAX] wherever it is used (the
# reparameterized sample and the KL): exp(log_var / 2) then stays finite and non-zero in float16
# (exp(10) = 22026 < its largest 65504; exp(-10) = 4.5e-5 > its smallest subnormal 6e-8), and a
# posterior standard deviation outside 4.5e-5..22026 means nothing for data in [0, 1].
LOG_VAR_MIN, LOG_VAR_MAX = -20.0, 20.0


def _float32(*tensors):
    return [tf.cast(t, tf.float32) for t in tensors]


def _per_example(distribution, x):
    """Treat every non-batch axis as part of the event, so log_prob is one number per example."""
    event_ndims = len(x.shape) - 1
    return tfd.Independent(distribution, reinterpreted_batch_ndims=event_ndims).log_prob(x)


def bernoulli_log_prob(x, logits):
    """log p(x | logits) for x in [0, 1] (the cross-entropy form for non-binary x).

    Args:
        x: targets [B, ...] in [0, 1] (binary, or grey levels), any float dtype.
        logits: Bernoulli logits of the same shape, any float dtype.

    Returns:
        float32 [B]: the log-likelihood summed over every non-batch axis, nats per example (<= 0).
    """
    x, logits = _float32(x, logits)
    return _per_example(tfd.Bernoulli(logits=logits, dtype=tf.float32), x)


def gaussian_log_prob(x, mean, log_sigma):
    """log N(x; mean, sigma^2), sigma = max(exp(log_sigma), SIGMA_MIN) broadcast over pixels.

    The floor is a hard clamp: values above it are exact, and below it the gradient with respect
    to log_sigma is 0 (it cannot push sigma further down) while the mean still learns.

    Args:
        x: targets [B, ...], pixel values in [0, 1], any float dtype.
        mean: the Gaussian means, the shape of x.
        log_sigma: natural log of the standard deviation, broadcast against x (one per channel:
            [C] for images [B, H, W, C]).

    Returns:
        float32 [B]: the log-density summed over every non-batch axis, nats per example; at most
        LOG_PROB_MAX_PER_PIXEL per value.
    """
    x, mean, log_sigma = _float32(x, mean, log_sigma)
    return _per_example(tfd.Normal(loc=mean, scale=tf.exp(tf.maximum(log_sigma, LOG_SIGMA_MIN))), x)


def clamp_log_var(log_var):
    """The encoder's log-variance limited to [LOG_VAR_MIN, LOG_VAR_MAX], in its own dtype.

    Args:
        log_var: a tensor of log-variances, any shape and float dtype.

    Returns:
        the clipped tensor, same shape and dtype.
    """
    return tf.clip_by_value(log_var, LOG_VAR_MIN, LOG_VAR_MAX)


def gaussian_kl_per_dim(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, 1)) for every latent dimension, in closed form
    (Kingma & Welling 2014, appendix B).

    Args:
        mean: posterior means [B, latent], any float dtype.
        log_var: posterior log-variances [B, latent], clamped (clamp_log_var).

    Returns:
        float32 [B, latent], nats; the sum over the last axis is KL(q(z|x) || p(z)) per example.
    """
    per_dim_posterior = diagonal_normal(mean, log_var).distribution
    return tfd.kl_divergence(per_dim_posterior, tfd.Normal(loc=0.0, scale=1.0))


def diagonal_normal(mean, log_var):
    """q(z|x) = N(mean, diag(exp(log_var))) as one distribution per example (event = latent);
    log_var clamped (clamp_log_var).

    Args:
        mean: means [B, latent], any float dtype (cast to float32).
        log_var: log-variances [B, latent].

    Returns:
        a float32 `tfd.Independent` normal, batch shape [B], event shape [latent].
    """
    mean, log_var = _float32(mean, log_var)
    scale = tf.exp(0.5 * clamp_log_var(log_var))
    return tfd.Independent(tfd.Normal(loc=mean, scale=scale), reinterpreted_batch_ndims=1)


def standard_normal(latent_dim):
    """The prior p(z) = N(0, I) over `latent_dim` dimensions.

    Args:
        latent_dim: the number of latent dimensions.

    Returns:
        a float32 `tfd.Independent` normal, scalar batch shape, event shape [latent_dim].
    """
    return tfd.Independent(tfd.Normal(loc=tf.zeros(latent_dim), scale=1.0), reinterpreted_batch_ndims=1)
