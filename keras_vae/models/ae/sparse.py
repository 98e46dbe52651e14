"""`sparse_ae` (KL sparsity penalty) and `k_sparse_ae` (Makhzani & Frey 2014).

Both log, per example, the mean activation of the code and the fraction of active units (sigmoid
code: above 0.5; k-sparse code: non-zero), so history shows how sparse the code is.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.layers import top_k_mask
from keras_vae.core.registration import register_model
from keras_vae.models.ae.plain import AE

ACTIVITY = ("mean_activation", "active_fraction")
ACTIVITY_DOCS = {
    "mean_activation": Term("mean over code units", "mean code activation"),
    "active_fraction": Term(
        "fraction of code units", "code units active per image (sigmoid: > 0.5; k-sparse: non-zero)"
    ),
}
# rho_hat is clipped this far inside (0, 1) so a fully saturated unit gives a finite KL.
EPSILON = 1e-6


def activity(code, active):
    """How active each example's code is.

    Args:
        code: codes [B, latent_dim].
        active: bool [B, latent_dim], which units count as active.

    Returns:
        {"mean_activation": float32 [B], "active_fraction": float32 [B]}: means over the units.
    """
    code = tf.cast(code, tf.float32)
    return {
        "mean_activation": tf.reduce_mean(code, -1),
        "active_fraction": tf.reduce_mean(tf.cast(active, tf.float32), -1),
    }


def sparsity_penalty(code, rho):
    """sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)), rho_hat_j the batch mean of unit j
    (Ng, "Sparse autoencoder", CS294A lecture notes 2011), clipped to [EPSILON, 1 - EPSILON].

    Args:
        code: sigmoid codes [B, latent_dim] in [0, 1].
        rho: the target mean activation, in (0, 1).

    Returns:
        float32 scalar: the penalty of the batch, nats.
    """
    rho_hat = tf.clip_by_value(tf.reduce_mean(tf.cast(code, tf.float32), axis=0), EPSILON, 1 - EPSILON)
    bernoulli = tfp.distributions.Bernoulli
    return tf.reduce_sum(tfp.distributions.kl_divergence(bernoulli(probs=rho), bernoulli(probs=rho_hat)))


@register_model
class SparseAE(AE):
    """Sigmoid code; loss = -log p(x | code) + beta * sum_j KL(rho || rho_hat_j).

    The penalty is one number per batch, broadcast to every example so the batch mean of "loss" is
    the objective. beta defaults to 10, not the 3 of Ng's notes: there the reconstruction is half a
    squared error, here a Bernoulli NLL summed over pixels whose gradients are larger, and beta = 3
    leaves the mean activation near 0.1 on MNIST.

    Args:
        rho: the target mean activation of each code unit, in (0, 1).
        beta: the weight of the penalty (>= 0).
        code_activation: as for `AE`; "sigmoid", which the KL to Bernoulli(rho) needs.
        **kwargs: `AE` arguments (latent_dim, ...).

    Raises:
        ConfigError: rho outside (0, 1) or a negative beta.
    """

    loss_names = ("loss", "reconstruction", "sparsity", *ACTIVITY)
    term_docs = {
        **AE.term_docs,
        **ACTIVITY_DOCS,
        "sparsity": Term(NATS, "sum_j KL(rho || rho_hat_j) of the batch, given to each example"),
    }

    def __init__(self, rho=0.05, beta=10.0, code_activation="sigmoid", **kwargs):
        super().__init__(code_activation=code_activation, **kwargs)
        self.rho = checked("rho", rho, lambda v: 0 < v < 1, "a target activation in (0, 1)")
        self.beta = checked("beta", beta, lambda v: v >= 0, "a penalty weight >= 0")

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "beta": self.beta}

    def loss_terms(self, batch, training=False):
        terms = super().loss_terms(batch, training)
        sparsity = tf.fill(tf.shape(terms["loss"]), sparsity_penalty(terms["code"], self.rho))
        terms.update(loss=terms["loss"] + self.beta * sparsity, sparsity=sparsity)
        return {**terms, **activity(terms["code"], terms["code"] > 0.5)}


@keras.saving.register_keras_serializable(package="keras_vae")
class KSparse(keras.layers.Layer):
    """Keep the k largest entries of each row, zero the rest. The mask is a constant for the
    gradient, so gradients flow only through the k kept units.

    Args:
        k: the number of entries kept per row.
        **kwargs: `keras.layers.Layer` arguments (name, dtype).
    """

    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def call(self, h):
        return h * tf.stop_gradient(top_k_mask(h, self.k))

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@register_model
class KSparseAE(AE):
    """Linear code, of which only the k largest activations survive (inside the encoder, so the
    exported encoder gives the k-sparse code too); loss = -log p(x | code), nats per example.

    Args:
        k: the number of code units kept per example, 1 <= k <= latent_dim.
        code_activation: as for `AE`; "linear" by default, as in Makhzani & Frey (2014).
        **kwargs: `AE` arguments (latent_dim, ...).

    Raises:
        ConfigError: k not an integer in [1, latent_dim].
    """

    loss_names = ("loss", "reconstruction", *ACTIVITY)
    term_docs = {**AE.term_docs, **ACTIVITY_DOCS}

    def __init__(self, k=25, code_activation="linear", **kwargs):
        super().__init__(code_activation=code_activation, **kwargs)
        checked("k", k, lambda v: v >= 1, "an integer >= 1", kind=int)
        self.k = checked("k", k, lambda v: v <= self.latent_dim, f"at most latent_dim={self.latent_dim}", kind=int)

    def get_config(self):
        return {**super().get_config(), "k": self.k}

    def latent_head(self, features):
        return KSparse(self.k, name="k_sparse")(super().latent_head(features))

    def loss_terms(self, batch, training=False):
        terms = super().loss_terms(batch, training)
        return {**terms, **activity(terms["code"], tf.not_equal(terms["code"], 0))}
