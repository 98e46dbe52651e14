"""`beta_vae`: the conv VAE with a reweighted KL (Higgins et al. 2017) or a KL capacity target
(Burgess et al. 2017, "Understanding disentangling in beta-VAE").

- capacity_max = None: loss = reconstruction + beta * KL; beta = 1 is the VAE.
- capacity_max = C_max: loss = reconstruction + gamma * |KL - C|, KL the batch mean, C raised
  linearly from 0 to C_max over capacity_steps training steps, then held.

The step count is a non-trainable variable of the model, so it is saved in .keras files and
checkpoints and a resumed run continues the schedule. KL is logged per latent dimension
(kl_0, kl_1, ...): a dimension with KL near 0 is an inactive unit.
"""

import tensorflow as tf

from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.registration import register_model
from keras_vae.models.vae.vae import VAE


@register_model
class BetaVAE(VAE):
    """beta-VAE (Higgins et al. 2017), or with `capacity_max` the capacity objective of
    Burgess et al. (2017) (the module docstring).

    Args:
        beta: the KL weight without a capacity target (>= 0; 1 is the VAE).
        capacity_max: C_max in nats, the final KL target; None for the beta objective.
        capacity_steps: training steps over which C rises linearly from 0 to C_max (>= 1).
        gamma: the weight of |KL - C| with a capacity target (>= 0).
        architecture: as for `Autoencoder`; "conv" by default.
        **kwargs: `VAE` (`Autoencoder`, `ImageModel`, `ZooModel`) arguments.

    Raises:
        ConfigError: a negative beta, capacity_max or gamma, or capacity_steps < 1.
    """

    def __init__(
        self, beta=4.0, capacity_max=None, capacity_steps=100_000, gamma=1000.0, architecture="conv", **kwargs
    ):
        super().__init__(architecture=architecture, **kwargs)
        self.beta = checked("beta", beta, lambda v: v >= 0, "a KL weight >= 0")
        if capacity_max is not None:
            checked("capacity_max", capacity_max, lambda v: v >= 0, "None or a capacity >= 0 nats")
        self.capacity_max = capacity_max
        self.capacity_steps = checked("capacity_steps", capacity_steps, lambda v: v >= 1, "an integer >= 1", kind=int)
        self.gamma = checked("gamma", gamma, lambda v: v >= 0, "a weight >= 0")

    def get_config(self):
        return {
            **super().get_config(),
            "beta": self.beta,
            "capacity_max": self.capacity_max,
            "capacity_steps": self.capacity_steps,
            "gamma": self.gamma,
        }

    def build_networks(self):
        super().build_networks()
        self.capacity_step = self.add_weight(
            name="capacity_step",
            shape=(),
            dtype="int64",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",  # one count however many replicas train
        )

    @property
    def evaluated_names(self):
        return (*VAE.loss_names, *(("capacity",) if self.capacity_max is not None else ()))

    @property
    def loss_names(self):
        """KL is also logged per latent dimension (kl_0, kl_1, ...); evaluate reports it once,
        as the list kl_per_dim."""
        return (*self.evaluated_names, *(f"kl_{j}" for j in range(self.latent_dim)))

    @property
    def term_docs(self):
        per_dimension = {f"kl_{j}": Term(NATS, f"KL of latent dimension {j}") for j in range(self.latent_dim)}
        return {**VAE.term_docs, "capacity": Term(NATS, "the KL target C at this step"), **per_dimension}

    def capacity(self):
        """C at the current step: capacity_max * min(step / capacity_steps, 1).

        Returns:
            float32 scalar tensor, nats.
        """
        progress = tf.cast(self.capacity_step, tf.float32) / float(self.capacity_steps)
        return float(self.capacity_max) * tf.minimum(progress, 1.0)

    def loss_terms(self, batch, training=False, eps=None):
        terms = super().loss_terms(batch, training, eps)
        if self.capacity_max is None:
            terms["loss"] = terms["reconstruction"] + self.beta * terms["kl"]
        else:
            # The batch-level gap is broadcast to every example, as for any batch penalty.
            capacity = tf.fill(tf.shape(terms["kl"]), self.capacity())
            gap = tf.abs(tf.reduce_mean(terms["kl"]) - capacity)
            terms.update(loss=terms["reconstruction"] + self.gamma * gap, capacity=capacity)
        terms.update({f"kl_{j}": terms["kl_per_dim"][:, j] for j in range(self.latent_dim)})
        return terms

    def train_step(self, data):
        logs = super().train_step(data)
        self.capacity_step.assign_add(1)
        return logs
