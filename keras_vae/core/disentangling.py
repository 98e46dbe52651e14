"""The batch estimators of the disentangling objectives, as plain TensorFlow functions (float32).

- `pairwise_log_density`, `aggregate_log_densities`: log q(z) and log prod_j q(z_j) of each
  sample of a minibatch, q(z) = (1/N) sum_n q(z | x_n) the aggregate posterior over a dataset of
  N examples, estimated from the batch (Chen et al. 2018, "Isolating Sources of Disentanglement
  in Variational Autoencoders", section 3 and appendix C):
    * minibatch-weighted sampling ("mws"): log q(z_i) ~= logsumexp_j log q(z_i | x_j) - log(N M),
      M the batch size. It comes from a lower bound that keeps only the batches containing x_i,
      so it is biased low, by log M when the posteriors do not overlap and by up to log N when
      they do: the total correlation it gives is biased high, by up to (D - 1) log N (D latent
      dimensions). Its gradients are those of Chen et al.'s and of disentanglement_lib's
      estimator (which drops the constants, methods/unsupervised/vae.py `total_correlation`).
    * minibatch-stratified sampling ("mss"): the weights of a stratified batch, 1/N for x_i
      itself, (N - M')/(N M') for one other example and 1/M' for the rest, M' = M - 1: an
      unbiased estimate of q(z_i) inside the log (the weights sum to 1). They are the weights of
      the authors' code (rtqichen/beta-tcvae `_log_importance_weight_matrix`), placed on the
      diagonal and the next column as that code intends (its stride puts them down the first two
      columns instead: rtqichen/beta-tcvae pull request #1).
- `shuffle_dimensions`: each latent dimension permuted across the batch independently, samples of
  prod_j q(z_j) (Kim & Mnih 2018, "Disentangling by Factorising", algorithm 1).
- `covariance_penalty`: DIP-VAE's penalties on a covariance matrix (Kumar et al. 2018, equations
  6 and 7, as disentanglement_lib's `regularize_diag_off_diag_dip`).

Every estimate is per replica under tf.distribute: the batch it sees is the replica's.
"""

import math

import tensorflow as tf

from keras_vae.core.losses import clamp_log_var

ESTIMATORS = ("mws", "mss")
LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_density(z, mean, log_var):
    """log N(z; mean, exp(log_var)) per dimension (broadcasting), float32; log_var clamped as
    everywhere (`losses.clamp_log_var`)."""
    z, mean, log_var = (tf.cast(t, tf.float32) for t in (z, mean, log_var))
    log_var = clamp_log_var(log_var)
    return -0.5 * (tf.square(z - mean) * tf.exp(-log_var) + log_var + LOG_2PI)


def pairwise_log_density(z, mean, log_var):
    """log q(z_i,d | x_j) for every sample i and posterior j of a batch.

    Args:
        z: samples [B, D], z_i drawn from q(z | x_i).
        mean, log_var: the posteriors' parameters [B, D].

    Returns:
        float32 [B (i), B (j), D].
    """
    return gaussian_log_density(z[:, None, :], mean[None, :, :], log_var[None, :, :])


def mss_log_weights(batch_size, dataset_size):
    """The log weights of minibatch-stratified sampling [B (i), B (j)]: log(1/N) on the diagonal
    (x_i itself), log((N - M')/(N M')) at column (i + 1) mod B, log(1/M') elsewhere, M' = B - 1
    (the module docstring). A batch of one has only its diagonal.

    Args:
        batch_size: B, an int or int32 scalar tensor.
        dataset_size: N, the number of examples q(z) averages over (> B - 1).

    Returns:
        float32 [B, B].
    """
    n = float(dataset_size)
    others = tf.maximum(tf.cast(batch_size, tf.float32) - 1.0, 1.0)
    eye = tf.eye(batch_size, dtype=tf.bool)
    stratum = tf.roll(eye, shift=1, axis=1)  # row i: column (i + 1) mod B
    full = tf.ones([batch_size, batch_size], tf.float32)
    return tf.where(
        eye,
        full * -math.log(n),
        tf.where(stratum, full * tf.math.log((n - others) / (n * others)), full * -tf.math.log(others)),
    )


def aggregate_log_densities(z, mean, log_var, dataset_size, estimator="mws"):
    """(log q(z_i), log prod_d q(z_i,d)) of each sample of the batch (the module docstring).

    Args:
        z: samples [B, D], z_i drawn from q(z | x_i).
        mean, log_var: the posteriors' parameters [B, D].
        dataset_size: N, the examples the aggregate posterior averages over.
        estimator: "mws" or "mss".

    Returns:
        (float32 [B], float32 [B]), nats.

    Raises:
        ValueError: an unknown estimator.
    """
    pairs = pairwise_log_density(z, mean, log_var)  # [i, j, d]
    if estimator == "mws":
        log_nm = tf.math.log(float(dataset_size) * tf.cast(tf.shape(z)[0], tf.float32))
        log_qz = tf.reduce_logsumexp(tf.reduce_sum(pairs, axis=2), axis=1) - log_nm
        log_marginals = tf.reduce_logsumexp(pairs, axis=1) - log_nm  # [i, d]
    elif estimator == "mss":
        weights = mss_log_weights(tf.shape(z)[0], dataset_size)
        log_qz = tf.reduce_logsumexp(weights + tf.reduce_sum(pairs, axis=2), axis=1)
        log_marginals = tf.reduce_logsumexp(weights[:, :, None] + pairs, axis=1)
    else:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    return log_qz, tf.reduce_sum(log_marginals, axis=1)


def shuffle_dimensions(z, noise):
    """z with each column permuted across the batch by its own random permutation.

    Args:
        z: [B, D].
        noise: uniform draws [B, D]; column d is permuted in the order of argsort(noise[:, d]).

    Returns:
        [B, D], each column a permutation of z's.
    """
    order = tf.argsort(noise, axis=0)  # [B, D]: a permutation of 0..B-1 in every column
    columns = tf.range(tf.shape(z)[1])[None, :] + tf.zeros_like(order)
    return tf.gather_nd(z, tf.stack([order, columns], axis=-1))


def batch_covariance(x):
    """Cov[x] over the batch, E[x x^T] - E[x] E[x]^T (normalized by B, as disentanglement_lib's
    `compute_covariance_z_mean`).

    Args:
        x: [B, D].

    Returns:
        float32 [D, D].
    """
    x = tf.cast(x, tf.float32)
    centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
    return tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(x)[0], tf.float32)


def dip_covariance(mean, log_var, dip_type):
    """The covariance DIP-VAE pushes to the identity: Cov_p(x)[mu(x)] for "i" (equation 6);
    E_p(x)[diag(exp(log_var))] + Cov_p(x)[mu(x)] = Cov_q(z)[z] for "ii" (equation 7).

    Args:
        mean, log_var: the posteriors' parameters [B, D].
        dip_type: "i" or "ii".

    Returns:
        float32 [D, D].
    """
    covariance = batch_covariance(mean)
    if dip_type == "ii":
        covariance += tf.linalg.diag(tf.reduce_mean(tf.exp(clamp_log_var(tf.cast(log_var, tf.float32))), axis=0))
    return covariance


def covariance_penalty(covariance):
    """(sum of squared off-diagonal entries, sum of squared (diagonal - 1)) of a covariance.

    Args:
        covariance: [D, D].

    Returns:
        (float32 scalar, float32 scalar).
    """
    diagonal = tf.linalg.diag_part(covariance)
    off = covariance - tf.linalg.diag(diagonal)
    return tf.reduce_sum(tf.square(off)), tf.reduce_sum(tf.square(diagonal - 1.0))
