"""The importance-weighted estimate of log p(x) (Burda, Grosse & Salakhutdinov 2016).

    L_k(x) = log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x),   z_1..z_k ~ q(z | x)

E[L_1] is the ELBO; E[L_k] rises with k towards log p(x). The estimator sees a model only through
a `LatentModel` (posterior, prior, likelihood), so a model whose log p(x) has a closed form can
check it; a zoo model with `bound = "iwae"` gives its own through `latent_model()`.
"""

import dataclasses
import functools
from typing import Callable

import tensorflow as tf
import tensorflow_probability as tfp


@dataclasses.dataclass
class LatentModel:
    """posterior(x) -> a distribution over z with batch shape [B] (x: a [B, ...] tensor, or a
    dict of them such as {"images": ..., "labels": ...});
    prior -> a distribution over z with scalar batch shape;
    log_likelihood(x, z) -> log p(x | z) of shape [S, B] for z of shape [S, B, latent]."""

    posterior: Callable
    prior: tfp.distributions.Distribution
    log_likelihood: Callable

    @functools.cached_property
    def compiled_log_weights(self):
        """`log_weights` for this model as one graph: eager dispatch of the many small TFP ops
        would otherwise dominate. Traced again only for a new batch or sample count."""
        return tf.function(lambda x, samples, seed: log_weights(self, x, samples, seed), reduce_retracing=True)


def log_weights(model, x, samples, seed):
    """log p(x, z) - log q(z | x) for `samples` draws per example: shape [samples, B]."""
    q = model.posterior(x)
    return log_weights_at(model, x, q, q.sample(samples, seed=seed))[0]


def log_weights_at(model, x, q, z):
    """(log p(x | z) + log p(z) - log q(z | x), log p(x | z)) at given z [S, B, latent], with
    q = model.posterior(x) (or the same distribution): two [S, B] float32 tensors, nats."""
    log_likelihood = model.log_likelihood(x, z)
    return log_likelihood + model.prior.log_prob(z) - q.log_prob(z), log_likelihood


def bound(log_weights):
    """L_k per example from its k log-weights [k, B] (axis 0): log (1/k) sum_i exp(w_i), [B]."""
    return tf.reduce_logsumexp(log_weights, axis=0) - tf.math.log(tf.cast(tf.shape(log_weights)[0], log_weights.dtype))


MAX_DECODES = 2048  # (example, sample) pairs through the likelihood at once


def passes(size, k, max_decodes=MAX_DECODES):
    """[(start, stop, samples)]: the passes `iwae` makes over `size` examples, in order; each
    draws `samples` z for examples [start, stop), and an example's passes follow each other."""
    chunk = min(k, max_decodes)
    group = max(1, max_decodes // chunk)
    return [(start, min(start + group, size), min(chunk, k - done))
            for start in range(0, size, group) for done in range(0, k, chunk)]


def iwae(model, x, k, seed=0, max_decodes=MAX_DECODES):
    """L_k for every example of x, shape [B], in nats.

    Work is vectorized over examples and samples; to bound memory, at most `max_decodes`
    (example, sample) pairs go through the likelihood at once: x is cut into groups of examples
    and k into chunks of samples (`passes`), and each example's k log-weights are joined by one
    logsumexp. `seed` (an int or a stateless [2] seed) fixes every draw, so a call repeats exactly.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    x = tf.nest.map_structure(tf.convert_to_tensor, x)
    size = int(tf.nest.flatten(x)[0].shape[0])
    seed = tf.constant([0, seed] if isinstance(seed, int) else seed, tf.int32)
    parts = {}
    for step, (start, stop, samples) in enumerate(passes(size, k, max_decodes)):
        xs = tf.nest.map_structure(lambda t: t[start:stop], x)  # noqa: B023
        seed_of_pass = tf.random.experimental.stateless_fold_in(seed, step)
        parts.setdefault(start, []).append(model.compiled_log_weights(xs, samples, seed_of_pass))
    return tf.concat([bound(tf.concat(group, axis=0)) for group in parts.values()], axis=0)
