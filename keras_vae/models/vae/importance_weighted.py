"""`IWAE`: the importance-weighted autoencoder (Burda, Grosse & Salakhutdinov 2016, "Importance
Weighted Autoencoders", ICLR 2016).

The VAE's networks, prior and likelihood (the zoo entry `iwae` uses `conv_vae`'s conv networks),
trained on the k-sample importance-weighted bound instead of the ELBO:

    loss = -L_k(x),   L_k(x) = log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x),
    z_i = mean + exp(log_var / 2) * eps_i,   eps_i ~ N(0, I),   i = 1..k

in nats per example. L_k rises with k towards log p(x); k = 1 is the VAE's -ELBO with the KL
sampled at z_1 instead of in closed form. The log-weights and their log-mean-exp come from
`keras_vae.core.iwae` (`log_weights_at`, `bound`) through `latent_model()`, the code `evaluate` uses
for its k = 1000 estimate. Also logged, at no extra decoder cost: `reconstruction`, the mean of
-log p(x | z_i) over the k samples, and `kl`, in closed form; their sum is the -ELBO estimated
from the same samples, an upper bound on `loss` in expectation.
"""

import tensorflow as tf

from keras_vae.core import iwae, losses
from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.layers import reparameterize
from keras_vae.core.registration import register_model
from keras_vae.models.vae.vae import VAE


@register_model
class IWAE(VAE):
    """The IWAE of Burda et al. (2016), trained on -L_k (the module docstring).

    Args:
        k: the importance samples per example in the training objective (>= 1).
        **kwargs: `VAE` (`Autoencoder`, `ImageModel`, `ZooModel`) arguments.

    Raises:
        ConfigError: k not an integer >= 1.
    """

    term_docs = {
        **VAE.term_docs,
        "loss": Term(
            NATS, "-L_k, the importance-weighted bound with the model's k training samples (Burda et al. 2016)"
        ),
        "reconstruction": Term(NATS, "-log p(x | z) averaged over the k posterior samples of the objective"),
        "elbo": Term(NATS, "-(reconstruction + kl): the evidence lower bound, estimated from the k samples"),
    }

    def __init__(self, k=5, **kwargs):
        super().__init__(**kwargs)
        self.k = checked("k", k, lambda v: v >= 1, "an integer >= 1 (importance samples per example)", kind=int)

    def get_config(self):
        return {**super().get_config(), "k": self.k}

    def loss_terms(self, batch, training=False, eps=None):
        """The per-example terms of the k-sample bound.

        Args:
            batch: {"images": [B, H, W, C] float32 in [0, 1], and the conditions}.
            training: whether the networks run in training mode.
            eps: N(0, 1) noise [k, B, latent_dim] to use (tests); None draws it.

        Returns:
            {"loss": -L_k, "reconstruction", "kl": float32 [B], nats per example;
            "kl_per_dim": float32 [B, latent_dim]}.
        """
        batch = {**batch, "images": self.targets(batch["images"], training)}  # one binarization for all k
        mean, log_var = self.encode(batch, training=training)
        if eps is None:
            eps = self.noise.normal(tf.concat([[self.k], tf.shape(mean)], 0), mean.dtype)
        z = tf.cast(reparameterize(mean, log_var, eps), tf.float32)
        model = self.latent_model(training=training, targets=True)
        log_weights, log_likelihood = iwae.log_weights_at(model, batch, losses.diagonal_normal(mean, log_var), z)
        kl_per_dim = losses.gaussian_kl_per_dim(mean, log_var)
        return {
            "loss": -iwae.bound(log_weights),
            "reconstruction": -tf.reduce_mean(log_likelihood, axis=0),
            "kl": tf.reduce_sum(kl_per_dim, axis=-1),
            "kl_per_dim": kl_per_dim,
        }
