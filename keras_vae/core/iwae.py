"""The importance-weighted estimate of log p(x) (Burda, Grosse & Salakhutdinov 2016).

    L_k(x) = log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x),   z_1..z_k ~ q(z | x)

E[L_1] is the ELBO; E[L_k] rises with k towards log p(x). The estimator sees a model only through
a `LatentModel` (posterior, prior, likelihood), so a model whose log p(x) has a closed form can
check it; a zoo model with `bound = "iwae"` gives its own through `latent_model()`.
"""

import dataclasses
import functools
from collections.abc import Callable

import tensorflow as tf
import tensorflow_probability as tfp


@dataclasses.dataclass
class LatentModel:
    """A latent-variable model as the estimator sees it.

    Args:
        posterior: x -> q(z | x), a TFP distribution over z [latent] with batch shape [B] (x: a
            [B, ...] tensor, or a dict of them such as {"images": ..., "labels": ...}).
        prior: p(z), a TFP distribution over z [latent] with scalar batch shape.
        log_likelihood: (x, z) -> log p(x | z), float32 [S, B] in nats, for z float32 [S, B, latent].
    """

    posterior: Callable
    prior: tfp.distributions.Distribution
    log_likelihood: Callable

    @functools.cached_property
    def compiled_log_weights(self):
        """`log_weights` for this model as one graph: eager dispatch of the many small TFP ops
        would otherwise dominate. Traced again only for a new batch or sample count."""
        return tf.function(lambda x, samples, seed: log_weights(self, x, samples, seed), reduce_retracing=True)


def log_weights(model, x, samples, seed):
    """log p(x, z) - log q(z | x) for `samples` draws per example.

    Args:
        model: a `LatentModel`.
        x: a batch, [B, ...] or a dict of [B, ...] tensors, as `model.posterior` takes it.
        samples: the number of draws z ~ q(z | x) per example.
        seed: a stateless seed, int32 [2], for the draws.

    Returns:
        float32 [samples, B], nats.
    """
    q = model.posterior(x)
    return log_weights_at(model, x, q, q.sample(samples, seed=seed))[0]


def log_weights_at(model, x, q, z):
    """The log-weights and log-likelihoods at given z.

    Args:
        model: a `LatentModel`.
        x: a batch, [B, ...] or a dict of [B, ...] tensors.
        q: `model.posterior(x)` (or the same distribution), batch shape [B].
        z: float32 [S, B, latent], S draws per example.

    Returns:
        (log p(x | z) + log p(z) - log q(z | x), log p(x | z)): two float32 [S, B] tensors, nats.
    """
    log_likelihood = model.log_likelihood(x, z)
    return log_likelihood + model.prior.log_prob(z) - q.log_prob(z), log_likelihood


def bound(log_weights):
    """L_k per example from its k log-weights: log (1/k) sum_i exp(w_i).

    Args:
        log_weights: float [k, B], the k log-weights of each example along axis 0.

    Returns:
        [B] in the dtype of `log_weights`, nats per example.
    """
    return tf.reduce_logsumexp(log_weights, axis=0) - tf.math.log(tf.cast(tf.shape(log_weights)[0], log_weights.dtype))


MAX_DECODES = 2048  # (example, sample) pairs through the likelihood at once


def passes(size, k, max_decodes=MAX_DECODES):
    """The passes `iwae` makes over `size` examples, in order; an example's passes follow each other.

    Args:
        size: the number of examples B.
        k: the importance samples per example.
        max_decodes: the most (example, sample) pairs one pass may decode.

    Returns:
        list of (start, stop, samples): the pass draws `samples` z for each of examples [start, stop).
    """
    chunk = min(k, max_decodes)
    group = max(1, max_decodes // chunk)
    return [
        (start, min(start + group, size), min(chunk, k - done))
        for start in range(0, size, group)
        for done in range(0, k, chunk)
    ]


def iwae(model, x, k, seed=0, max_decodes=MAX_DECODES):
    """L_k for every example of x, shape [B], in nats.

    Work is vectorized over examples and samples; to bound memory, at most `max_decodes`
    (example, sample) pairs go through the likelihood at once: x is cut into groups of examples
    and k into chunks of samples (`passes`), and each example's k log-weights are joined by one
    logsumexp. `seed` (an int or a stateless [2] seed) fixes every draw, so a call repeats exactly.

    Args:
        model: a `LatentModel` (a zoo model's `latent_model()`).
        x: the examples, [B, ...] or a dict of [B, ...] arrays or tensors (images float32 in [0, 1]).
        k: the importance samples per example; k = 1 estimates the ELBO.
        seed: an int, or a stateless seed of two ints.
        max_decodes: the most (example, sample) pairs decoded at once (bounds memory).

    Returns:
        float32 [B]: L_k(x), nats per example; a lower bound on log p(x) that rises with k.

    Raises:
        ValueError: k < 1.
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
