"""`VAE` (Kingma & Welling 2014): q(z|x) = N(mean, diag(exp(log_var))), p(z) = N(0, I).

loss = -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z)), one reparameterized sample per example, in
nats per example. The networks are the config's `architecture` (`dense_vae`, `conv_vae`).
Evaluation adds the ELBO, the importance-weighted bound (`bound = "iwae"`, through
`latent_model()`), the KL per latent dimension and the active units of Burda et al. (2016).
"""

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core import iwae, losses, mixture
from keras_vae.core.contract import NATS, Column, Part, TensorInput, Term
from keras_vae.core.layers import reparameterize
from keras_vae.core.registration import register_model
from keras_vae.models.autoencoder import Autoencoder
from keras_vae.models.likelihood import bound_headline
from keras_vae.models.vae import figures as vae_figures

ACTIVE_THRESHOLD = 0.01


def active_units(latent_means, threshold=ACTIVE_THRESHOLD):
    """(count, per-dimension activity): unit i is active when Cov_x(E_q[z_i]) > threshold, the
    covariance taken over the test inputs (Burda et al. 2016, section 5.2).

    Args:
        latent_means: posterior means E_q[z] [N, latent_dim] of N inputs.
        threshold: the activity above which a unit is active.

    Returns:
        (int count of active units, np.ndarray float64 [latent_dim] of per-unit activity).
    """
    activity = np.var(np.asarray(latent_means, np.float64), axis=0)
    return int((activity > threshold).sum()), activity


@register_model
class VAE(Autoencoder):
    """q(z|x) = N(mean, diag(exp(log_var))), p(z) = N(0, I); loss = -ELBO, nats per example
    (Kingma & Welling 2014; the module docstring).

    Args:
        **kwargs: `Autoencoder` arguments (latent_dim: the size of z; architecture, ...),
            `ImageModel`'s (image_shape, likelihood, ...) and `ZooModel`'s (seed).
    """

    loss_names = ("loss", "reconstruction", "kl")
    code_names = ("z_mean", "z_log_var")
    bound = "iwae"
    drawers = {
        **Autoencoder.drawers,
        "manifold": vae_figures.manifold,
        "class_samples": vae_figures.class_samples,
        "traversals": vae_figures.traversals,
    }
    card_figures = ("reconstructions", "prior_samples")
    report_columns = (
        Column("elbo", "ELBO"),
        Column("iwae", "log p(x), IWAE k={k}"),
        Column("active_units", "active units", of="latent_dim"),
        Column("mse", "MSE", digits=4),
    )
    term_docs = {
        **Autoencoder.term_docs,
        "kl": Term(NATS, "KL(q(z|x) || p(z)), in closed form"),
        "elbo": Term(NATS, "-(reconstruction + kl): the evidence lower bound, one posterior sample per image"),
        "iwae": Term(NATS, "log p(x) estimated by importance weighting with k samples (Burda et al. 2016)"),
        "active_units": Term("count", f"latent units with Cov_x(E_q[z_i]) > {ACTIVE_THRESHOLD} (Burda et al. 2016)"),
    }

    @property
    def figures(self):
        manifold = ("manifold",) if self.latent_dim == 2 and not self.condition_classes else ()
        return ("reconstructions", "prior_samples", *manifold, "latent_space", "interpolation", "traversals")

    @property
    def prior_description(self):
        return f"decoder means of z ~ N(0, I), {self.latent_dim}-D latent space"

    def latent_head(self, features):
        mean = keras.layers.Dense(self.latent_dim, name="z_mean")(features)
        log_var = keras.layers.Dense(self.latent_dim, name="z_log_var")(features)
        return [mean, log_var]

    def code(self, batch, training=False):
        return self.encode(batch, training=training)[0]

    def loss_terms(self, batch, training=False, eps=None):
        """Per-example -ELBO terms, one reparameterized sample per example.

        Args:
            batch: {"images": [B, H, W, C] float32 in [0, 1], and the conditions}.
            training: whether the networks run in training mode.
            eps: N(0, 1) noise [B, latent_dim] to use (tests); None draws it.

        Returns:
            {"loss", "reconstruction", "kl": float32 [B], nats per example (loss = reconstruction
            + kl); "kl_per_dim": float32 [B, latent_dim]; and, for the objectives built on it
            (not logged), the posterior "z_mean", "z_log_var" and the sample "z" [B, latent_dim]}.
        """
        target = self.targets(batch["images"], training)
        conditions = self.conditions(batch)
        mean, log_var = self.encode({"images": self.encoder_input(target, training), **conditions}, training=training)
        if eps is None:
            eps = self.noise.normal(tf.shape(mean), mean.dtype)
        z = reparameterize(mean, log_var, eps)
        raw = self.decoder_raw(z, conditions, training=training)
        recon = self.reconstruction_nll(target, raw)
        kl_per_dim = losses.gaussian_kl_per_dim(mean, log_var)
        kl = tf.reduce_sum(kl_per_dim, axis=-1)
        posterior = {"z_mean": mean, "z_log_var": log_var, "z": z}
        return {"loss": recon + kl, "reconstruction": recon, "kl": kl, "kl_per_dim": kl_per_dim, **posterior}

    fitted_samplers = ("gmm", "flow")
    samplers = ("normal", *fitted_samplers)  # what `sample(..., sampler=)` draws z from

    def sample(self, n, seed=None, sampler="normal", **conditions):
        """n images [n, H, W, C] in [0, 1] decoded from z drawn by `sampler`; the same seed gives
        the same images. A conditional model takes its conditions (`labels=3`, or one per sample).

        Args:
            n: the number of images.
            seed: int for repeatable draws (stateless), or None.
            sampler: "normal", the prior N(0, I); "gmm", the Gaussian mixture fitted to the
                training split's posterior means after training (`keras_vae.core.mixture`), or
                "flow", the masked autoregressive flow fitted to them (`keras_vae.core.flow`);
                `train --resume RUN --stage sampler` fits both.
            **conditions: the conditions of a conditional model (each an int, or n ints).

        Returns:
            images [n, H, W, C] in [0, 1].

        Raises:
            UserError: a condition the model does not take, or out of range; an unknown sampler,
                or one not fitted yet.
        """
        conditions = self.sample_conditions(n, conditions)
        return self.decode(self.latent_samples(n, seed, sampler), **conditions)

    def attach_sampler(self, name, sampler):
        """`ZooModel.attach_sampler`, for a sampler of codes of this model's size.

        Raises:
            ValueError: an unknown name, or a sampler of another number of dimensions.
        """
        if sampler.dimensions != self.latent_dim:
            raise ValueError(
                f"its {name} sampler draws {sampler.dimensions} dimensions, the code has {self.latent_dim}"
            )
        super().attach_sampler(name, sampler)

    def latent_samples(self, n, seed=None, sampler="normal"):
        """n codes z [n, latent_dim] float32 from `sampler` ("normal": N(0, I); else a fitted
        sampler, `fitted_sampler`); the same int seed gives the same codes (stateless draws)."""
        if sampler != "normal":
            return tf.cast(self.fitted_sampler(sampler).sample(n, seed=seed), tf.float32)
        shape = (n, self.latent_dim)
        return tf.random.normal(shape) if seed is None else tf.random.stateless_normal(shape, seed=[seed, 0])

    def export_parts(self):
        """The decoder and encoder (`Autoencoder`), and with a fitted GMM attached its "sampler":
        uniform [B, 1] in [0, 1) and noise [B, latent_dim] ~ N(0, I) in, z [B, latent_dim] out,
        the draw `sample(..., sampler="gmm")` makes from the same u and eps
        (`keras_vae.core.mixture.transform`)."""
        parts = super().export_parts()
        if "gmm" not in self.attached_samplers():
            return parts
        layer = mixture.MixtureLayer.of(self.fitted_sampler("gmm"))

        def sampler(uniform, noise):
            return {"z": layer(uniform, noise)}

        inputs = (TensorInput("uniform", (1,), values="unit"), TensorInput("noise", (self.latent_dim,)))
        metadata = {"latent_dim": self.latent_dim, "sampler": "gmm", "components": layer.components, "generates": "z"}
        return [*parts, Part("sampler", sampler, inputs, {"z": (self.latent_dim,)}, layer, metadata)]

    # -- evaluation ---------------------------------------------------------------------------
    def latent_prior(self, training=False):
        """p(z), the prior `latent_model` (and so the importance-weighted bound) uses: N(0, I).

        Args:
            training: the mode the networks run in (a prior built from them: `VampVAE`'s).

        Returns:
            a float32 TFP distribution over z [latent_dim], batch shape [].
        """
        return losses.standard_normal(self.latent_dim)

    def latent_model(self, training=False, targets=False):
        """This VAE as `keras_vae.core.iwae` sees it: posterior, prior and likelihood of a batch, the
        networks run with `training`. The images are binarized as `loss_terms` binarizes them at
        evaluation, unless `targets`: then they already are the targets (training draws them
        once per step, so the posterior and the likelihood see the same draw).

        Args:
            training: the mode the networks run in.
            targets: whether the batches given are already binarized targets.

        Returns:
            `keras_vae.core.iwae.LatentModel`: posterior q(z|x) and likelihood over dict batches
            {"images": [B, H, W, C], and the conditions}; prior `latent_prior()`, N(0, I).
        """

        def evaluated(batch):
            return batch if targets else {**batch, "images": self.targets(batch["images"], training=False)}

        def posterior(batch):
            return losses.diagonal_normal(*self.encode(evaluated(batch), training=training))

        def log_likelihood(batch, z):
            samples, size = tf.shape(z)[0], tf.shape(z)[1]

            def repeated(t):  # each example once per sample, sample-major, as z is flattened
                t = tf.convert_to_tensor(t)
                return tf.reshape(
                    tf.broadcast_to(t, tf.concat([[samples], tf.shape(t)], 0)), tf.concat([[-1], tf.shape(t)[1:]], 0)
                )

            batch = evaluated(batch)
            conditions = {key: repeated(value) for key, value in self.conditions(batch).items()}
            raw = self.decoder_raw(tf.reshape(z, [-1, self.latent_dim]), conditions, training=training)
            return -tf.reshape(self.reconstruction_nll(repeated(batch["images"]), raw), [samples, size])

        return iwae.LatentModel(posterior, self.latent_prior(training), log_likelihood)

    def evaluation_terms(self, batch, terms):
        mean, _ = self.encode({**batch, "images": self.targets(batch["images"], training=False)})
        return {
            **super().evaluation_terms(batch, terms),
            "elbo": -(terms["reconstruction"] + terms["kl"]),
            "latent_mean": mean,
            "kl_per_dim": terms["kl_per_dim"],
        }

    def summarize(self, per_example):
        metrics = super().summarize(per_example)
        count, activity = active_units(per_example["latent_mean"])
        return {
            **metrics,
            "active_units": count,
            "latent_dim": self.latent_dim,
            "activity_per_dim": activity.round(6).tolist(),
            "kl_per_dim": np.mean(per_example["kl_per_dim"], axis=0).round(6).tolist(),
        }

    def headline(self, metrics):
        """The bounds and the active units (`likelihood.bound_headline`)."""
        return bound_headline(metrics)
