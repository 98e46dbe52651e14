"""`VampVAE`: the VAE with a VampPrior (Tomczak & Welling 2018, "VAE with a VampPrior", AISTATS).

The VAE's networks, posterior and likelihood; only the prior changes, from N(0, I) to the
"variational mixture of posteriors": the encoder's own posterior at K learned pseudo-inputs,

    p(z) = (1/K) sum_k q(z | u_k),   u_k = sigmoid(gain * w_k),   w: float32 [K, H, W, C]

(the sigmoid keeps every pseudo-input an image in [0, 1]; `gain` below). The KL to a mixture has
no closed form, so the objective estimates it at the one reparameterized sample of the
reconstruction:

    loss = -log p(x | z) + log q(z | x) - log p(z),   z = mean + exp(log_var / 2) * eps

in nats per example: an unbiased one-sample estimate of the -ELBO (the paper's objective, without
its KL warm-up). Each step encodes the K pseudo-inputs beside the batch, so the prior, its
pseudo-inputs and the encoder learn together.

Pseudo-inputs start at random, gain * w ~ N(0, 0.04^2), so u is about N(0.5, 0.01^2): the
authors' code draws them from N(0.05, 0.01) through a hard tanh to [0, 1] (or from training
images, which a model built from its config does not have); the same small spread here sits where
the sigmoid passes gradients fastest.

`pseudo_input_gain` is the pseudo-inputs' own learning rate: Adam moves each weight by about the
learning rate per step whatever its gradient's scale, so the logits gain * w move gain times as
fast as w would. At gain 1, in the zoo's 3,390 steps at 1e-3, they barely left their grey start
(logit spread 0.04 to 0.26); at gain 10 they took digit-like strokes (spread 1.0), and with 100
pseudo-inputs the validation -ELBO fell by 1.5 nats (with 500, by 0.1; zoo/vamp_vae/README.md).

Sampling draws from this prior: a pseudo-input k uniformly, then z ~ q(z | u_k).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_vae.core import losses
from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.pictures import Grid
from keras_vae.core.registration import register_model
from keras_vae.models.vae.vae import VAE

tfd = tfp.distributions

PSEUDO_INPUT_LOGIT_STDDEV = 0.04  # sigmoid'(0) = 1/4: u = sigmoid(logit) has a spread of about 0.01
SHOWN_PSEUDO_INPUTS = 64  # in the pseudo_inputs figure


def vamp_prior(means, log_vars):
    """The uniform mixture (1/K) sum_k N(means[k], diag(exp(log_vars[k]))).

    Args:
        means: float32 [K, latent_dim], the posterior means at the pseudo-inputs.
        log_vars: float32 [K, latent_dim], their log-variances (clamped, `losses.clamp_log_var`).

    Returns:
        a float32 `tfd.MixtureSameFamily` over z [latent_dim], batch shape []: `log_prob` of z
        [..., latent_dim] (e.g. [S, B, latent_dim]) is [...], nats.
    """
    mixing = tfd.Categorical(logits=tf.zeros([means.shape[0]], tf.float32))
    return tfd.MixtureSameFamily(mixing, losses.diagonal_normal(means, log_vars))


def moment_matched_kl_per_dim(mean, log_var, prior_means, prior_log_vars):
    """KL(q(z_i | x) || N(m_i, v_i)) per latent dimension, in closed form, where N(m_i, v_i) has the
    mean and variance of the mixture prior's marginal in dimension i:
    m = mean_k mu_k, v = mean_k sigma_k^2 + mean_k (mu_k - m)^2.

    Not a split of the mixture KL (whose dimensions do not separate): a per-dimension measure of
    how far the posterior sits from the prior's spread, 0 for a dimension that ignores its input
    (then every mu_k, sigma_k equals the posterior's).

    Args:
        mean: posterior means [B, latent_dim], any float dtype.
        log_var: posterior log-variances [B, latent_dim].
        prior_means: float32 [K, latent_dim], the posterior means at the pseudo-inputs.
        prior_log_vars: float32 [K, latent_dim], their log-variances.

    Returns:
        float32 [B, latent_dim], nats (>= 0).
    """
    m = tf.reduce_mean(prior_means, axis=0)
    v = tf.reduce_mean(tf.exp(prior_log_vars), axis=0) + tf.reduce_mean(tf.square(prior_means - m), axis=0)
    return tfd.kl_divergence(losses.diagonal_normal(mean, log_var).distribution, tfd.Normal(m, tf.sqrt(v)))


def pseudo_inputs_figure(model, **_):
    """Grid: the first SHOWN_PSEUDO_INPUTS pseudo-inputs u_k, as images."""
    shown = min(model.pseudo_inputs, SHOWN_PSEUDO_INPUTS)
    title = f"Pseudo-inputs u_k of the VampPrior, the first {shown} of {model.pseudo_inputs}: p(z) = mean_k q(z | u_k)"
    return Grid(model.pseudo_images()[:shown].numpy(), title, columns=8)


@register_model
class VampVAE(VAE):
    """The VAE with the VampPrior of Tomczak & Welling (2018) (the module docstring).

    Args:
        pseudo_inputs: K, the number of learned pseudo-inputs (mixture components); the paper's 500.
        pseudo_input_gain: g > 0 in u = sigmoid(g * w): under Adam, the pseudo-inputs' learning rate
            is g times the model's (the module docstring); 1, the plain parameterization, by
            default, as K defaults to the paper's; the zoo entry's are measured (K = 100, g = 10).
        **kwargs: `VAE` (`Autoencoder`, `ImageModel`, `ZooModel`) arguments.

    Raises:
        ConfigError: pseudo_inputs not an integer >= 1, or pseudo_input_gain not a number > 0.
    """

    drawers = {**VAE.drawers, "pseudo_inputs": pseudo_inputs_figure}
    card_figures = ("reconstructions", "prior_samples", "pseudo_inputs")
    term_docs = {
        **VAE.term_docs,
        "loss": Term(NATS, "-ELBO at one posterior sample: reconstruction + kl, the KL sampled (no closed form)"),
        "kl": Term(
            NATS,
            "log q(z|x) - log p(z) at the posterior sample of the reconstruction, p the VampPrior: a one-sample "
            "estimate of KL(q(z|x) || p(z)) (one image's can be negative); metrics.json's kl_per_dim is not its "
            "split but the closed-form KL of each q(z_i|x) to the Gaussian with the mean and variance of the "
            "prior's marginal in dimension i",
        ),
    }

    def __init__(self, pseudo_inputs=500, pseudo_input_gain=1.0, **kwargs):
        super().__init__(**kwargs)
        self.pseudo_inputs = checked(
            "pseudo_inputs", pseudo_inputs, lambda v: v >= 1, "an integer >= 1 (the VampPrior's components)", kind=int
        )
        self.pseudo_input_gain = checked(
            "pseudo_input_gain", pseudo_input_gain, lambda v: v > 0, "a number > 0 (u = sigmoid(gain * w))"
        )

    def get_config(self):
        return {
            **super().get_config(),
            "pseudo_inputs": self.pseudo_inputs,
            "pseudo_input_gain": self.pseudo_input_gain,
        }

    def build_networks(self):
        super().build_networks()
        self.pseudo_input_weights = self.add_weight(  # w; the logits are gain * w
            name="pseudo_input_weights",
            shape=(self.pseudo_inputs, *self.image_shape),
            initializer=keras.initializers.RandomNormal(stddev=PSEUDO_INPUT_LOGIT_STDDEV / self.pseudo_input_gain),
        )

    @property
    def figures(self):
        shown = super().figures
        at = shown.index("prior_samples") + 1
        return (*shown[:at], "pseudo_inputs", *shown[at:])

    @property
    def prior_description(self):
        return (
            f"decoder means of z ~ the VampPrior ({self.pseudo_inputs} pseudo-inputs), {self.latent_dim}-D latent space"
        )

    # -- the prior ------------------------------------------------------------------------------
    def pseudo_images(self):
        """The pseudo-inputs u = sigmoid(gain * w): float32 [K, H, W, C] in [0, 1]."""
        return tf.sigmoid(self.pseudo_input_gain * self.pseudo_input_weights)

    def pseudo_posteriors(self, training=False):
        """q(z | u_k) of every pseudo-input: (means, log_vars), each float32 [K, latent_dim], the
        log-variances clamped as `losses.diagonal_normal` clamps them."""
        mean, log_var = self.encode(self.pseudo_images(), training=training)
        return tf.cast(mean, tf.float32), tf.cast(losses.clamp_log_var(log_var), tf.float32)

    def latent_prior(self, training=False):
        """The VampPrior (`vamp_prior`) from the encoder at the pseudo-inputs now: a float32
        distribution over z [latent_dim], batch shape [] (what the importance-weighted bound uses)."""
        return vamp_prior(*self.pseudo_posteriors(training))

    # -- objective ------------------------------------------------------------------------------
    def loss_terms(self, batch, training=False, eps=None):
        """Per-example -ELBO terms at one reparameterized sample, the KL to the VampPrior sampled.

        Args:
            batch: {"images": [B, H, W, C] float32 in [0, 1]}.
            training: whether the networks run in training mode.
            eps: N(0, 1) noise [B, latent_dim] to use (tests); None draws it.

        Returns:
            {"loss", "reconstruction", "kl": float32 [B], nats per example (loss = reconstruction +
            kl, kl = log q(z|x) - log p(z) at z); "kl_per_dim": float32 [B, latent_dim]
            (`moment_matched_kl_per_dim`); "z_mean", "z_log_var", "z" [B, latent_dim]}.
        """
        terms = super().loss_terms(batch, training, eps)  # the reconstruction at z; its closed-form KL is replaced
        means, log_vars = self.pseudo_posteriors(training)
        z = tf.cast(terms["z"], tf.float32)
        posterior = losses.diagonal_normal(terms["z_mean"], terms["z_log_var"])
        kl = posterior.log_prob(z) - vamp_prior(means, log_vars).log_prob(z)
        terms.update(
            loss=terms["reconstruction"] + kl,
            kl=kl,
            kl_per_dim=moment_matched_kl_per_dim(terms["z_mean"], terms["z_log_var"], means, log_vars),
        )
        return terms

    # -- sampling -------------------------------------------------------------------------------
    def latent_samples(self, n, seed=None, sampler="normal"):
        """n codes z [n, latent_dim] float32 from `sampler`: "normal", the model's own prior (for
        every VAE the name of its prior; here the VampPrior: a pseudo-input k uniformly, then
        z ~ q(z | u_k)); else a fitted sampler ("gmm", `VAE.latent_samples`). The same int seed
        gives the same codes (stateless draws)."""
        if sampler != "normal":
            return super().latent_samples(n, seed, sampler)
        means, log_vars = self.pseudo_posteriors()
        shape, count = (n, self.latent_dim), self.pseudo_inputs
        if seed is None:
            k, eps = tf.random.uniform((n,), 0, count, tf.int32), tf.random.normal(shape)
        else:
            k = tf.random.stateless_uniform((n,), seed=[seed, 0], minval=0, maxval=count, dtype=tf.int32)
            eps = tf.random.stateless_normal(shape, seed=[seed, 1])
        return tf.gather(means, k) + tf.exp(0.5 * tf.gather(log_vars, k)) * eps

    def evaluation_header(self):
        return {**super().evaluation_header(), "prior": f"the VampPrior ({self.pseudo_inputs} pseudo-inputs)"}
