"""`factor_vae`: the VAE with a total-correlation penalty estimated by a discriminator (Kim & Mnih
2018, "Disentangling by Factorising").

A discriminator D on z tells samples of q(z) (z of the batch, class 0) from samples of
prod_j q(z_j) (each dimension of the batch's z permuted across the batch on its own, class 1);
its logit difference estimates the density ratio, so

    tc   = logit_0(z) - logit_1(z) ~= log q(z) / prod_j q(z_j)
    loss = reconstruction + kl + gamma * tc

and the discriminator minimizes its cross-entropy on the two halves (Kim & Mnih's algorithm 1;
disentanglement_lib methods/unsupervised/vae.py `FactorVAE`, which, as here, permutes the same
batch it trains the VAE on). Both updates are taken in one `train_step`, from the same forward
pass: the VAE's by the compiled optimizer over the encoder and decoder, the discriminator's by
its own Adam (`discriminator_optimizer`, lr 1e-4, beta_1 0.5, beta_2 0.9 as disentanglement_lib's
unsupervised_study_v1 shared.gin), an attribute of the model that `.keras` files and checkpoints
save and restore with it, so `--resume` continues both. The discriminator is the 6-layer MLP of
1000 leaky-ReLU units (slope 0.2, TensorFlow's default) of disentanglement_lib's
`fc_discriminator` (Kim & Mnih, appendix A), in float32 whatever the compute dtype.
"""

import keras
import tensorflow as tf

from keras_vae.core import disentangling, distributed
from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.registration import register_model
from keras_vae.models.base import as_batch
from keras_vae.models.vae.vae import VAE

LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's default alpha, as disentanglement_lib's discriminator


class _Held:
    """Holds the discriminator's optimizer out of Keras's saving walk (which saves what the
    `discriminator_optimizer` property gives)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer


@register_model
class FactorVAE(VAE):
    """FactorVAE (Kim & Mnih 2018; the module docstring).

    Args:
        gamma: the weight of the discriminator's total-correlation estimate (>= 0).
        discriminator_layers: hidden layers of the discriminator (>= 1).
        discriminator_units: units of each (>= 1).
        discriminator_learning_rate, discriminator_beta_1, discriminator_beta_2: its Adam's.
        architecture: as for `Autoencoder`; "conv" by default.
        **kwargs: `VAE` (`Autoencoder`, `ImageModel`, `ZooModel`) arguments.

    Raises:
        ConfigError: a negative gamma, a layer or unit count < 1, a learning rate <= 0, or a beta
            outside [0, 1).
    """

    def __init__(
        self,
        gamma=10.0,
        discriminator_layers=6,
        discriminator_units=1000,
        discriminator_learning_rate=1e-4,
        discriminator_beta_1=0.5,
        discriminator_beta_2=0.9,
        architecture="conv",
        **kwargs,
    ):
        super().__init__(architecture=architecture, **kwargs)
        self.gamma = checked("gamma", gamma, lambda v: v >= 0, "a total-correlation weight >= 0")
        self.discriminator_layers = checked(
            "discriminator_layers", discriminator_layers, lambda v: v >= 1, "an integer >= 1", kind=int
        )
        self.discriminator_units = checked(
            "discriminator_units", discriminator_units, lambda v: v >= 1, "an integer >= 1", kind=int
        )
        self.discriminator_learning_rate = checked(
            "discriminator_learning_rate", discriminator_learning_rate, lambda v: v > 0, "a learning rate > 0"
        )
        for name, beta in (
            ("discriminator_beta_1", discriminator_beta_1),
            ("discriminator_beta_2", discriminator_beta_2),
        ):
            checked(name, beta, lambda v: 0 <= v < 1, "an Adam decay rate in [0, 1)")
        self.discriminator_beta_1 = discriminator_beta_1
        self.discriminator_beta_2 = discriminator_beta_2

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "discriminator_layers": self.discriminator_layers,
            "discriminator_units": self.discriminator_units,
            "discriminator_learning_rate": self.discriminator_learning_rate,
            "discriminator_beta_1": self.discriminator_beta_1,
            "discriminator_beta_2": self.discriminator_beta_2,
        }

    def build_networks(self):
        super().build_networks()
        z = keras.Input((self.latent_dim,), name="z")
        h = z
        for i in range(self.discriminator_layers):
            h = keras.layers.Dense(self.discriminator_units, dtype="float32", name=f"d{i + 1}")(h)
            h = keras.layers.LeakyReLU(LEAKY_SLOPE, dtype="float32")(h)
        logits = keras.layers.Dense(2, dtype="float32", name="logits")(h)
        self.discriminator = keras.Model(z, logits, name="discriminator")
        optimizer = keras.optimizers.Adam(
            learning_rate=self.discriminator_learning_rate,
            beta_1=self.discriminator_beta_1,
            beta_2=self.discriminator_beta_2,
            epsilon=1e-8,  # TF1's AdamOptimizer default, as disentanglement_lib trains it
            name="discriminator_optimizer",
        )
        # Built now, so a .keras file's or checkpoint's moments load into it (an unbuilt
        # optimizer skips them).
        optimizer.build(self.discriminator.trainable_variables)
        self._discriminator_adam = _Held(optimizer)

    @property
    def discriminator_optimizer(self):
        """The discriminator's Adam while the model is compiled, else None. Keras saves and loads
        it with the model as an attribute of a compiled model (checkpoints, `--resume`); a model
        saved without its optimizer (a finished run's model.keras, `runs.without_optimizer`)
        leaves the discriminator's out too: at full size its moments are 40 MB."""
        return self._discriminator_adam.optimizer if self.compiled else None

    @property
    def trainable_variables(self):
        """The variables the compiled optimizer trains: the encoder's and the decoder's. The
        discriminator's have their own optimizer (`discriminator_optimizer`)."""
        own = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in super().trainable_variables if id(v) not in own]

    loss_names = ("loss", "reconstruction", "kl", "tc", "discriminator")
    term_docs = {
        **VAE.term_docs,
        "loss": Term(NATS, "reconstruction + kl + gamma * tc"),
        "tc": Term(NATS, "total correlation estimated by the discriminator, logit_0(z) - logit_1(z) (Kim & Mnih 2018)"),
        "discriminator": Term(
            NATS, "the discriminator's cross-entropy, half on z (class 0), half on z permuted per dimension (class 1)"
        ),
    }

    def discriminator_terms(self, z, training=False, noise=None):
        """The discriminator's view of a batch of codes.

        Args:
            z: codes [B, latent_dim], samples of q(z).
            training: whether the discriminator runs in training mode.
            noise: uniform draws [B, latent_dim] that order the permutation (tests); None draws them.

        Returns:
            {"tc": logit_0(z) - logit_1(z) [B], "discriminator": its cross-entropy [B] (nats),
            "permuted": z with each dimension permuted across the batch [B, latent_dim]}.
        """
        z = tf.cast(z, tf.float32)
        if noise is None:
            noise = self.noise.uniform(tf.shape(z))
        permuted = disentangling.shuffle_dimensions(tf.stop_gradient(z), noise)
        # One pass on z serves both objectives: `train_step` takes the VAE's gradient (through
        # tc) over the encoder and decoder only, and the discriminator's over its own weights.
        real = self.discriminator(z, training=training)
        fake = self.discriminator(permuted, training=training)
        cross_entropy = -0.5 * (tf.nn.log_softmax(real)[:, 0] + tf.nn.log_softmax(fake)[:, 1])
        return {"tc": real[:, 0] - real[:, 1], "discriminator": cross_entropy, "permuted": permuted}

    def loss_terms(self, batch, training=False, eps=None):
        terms = super().loss_terms(batch, training, eps)
        terms.update(self.discriminator_terms(terms["z"], training=training))
        terms["loss"] = terms["reconstruction"] + terms["kl"] + self.gamma * terms["tc"]
        return terms

    def train_step(self, data):
        """One step of each optimizer from one forward pass: the VAE's on its objective over
        `trainable_variables` (the encoder's and decoder's), the discriminator's on its
        cross-entropy over the discriminator's weights."""
        batch = self.check_batch(as_batch(data))
        vae_variables = self.trainable_variables
        discriminator_variables = self.discriminator.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            terms = self.loss_terms(batch, training=True)
            scaled = self.optimizer.scale_loss(self.objective(terms))
            discriminator_loss = tf.nn.compute_average_loss(
                terms["discriminator"], global_batch_size=distributed.global_batch_size(terms["discriminator"])
            )
        self.optimizer.apply(tape.gradient(scaled, vae_variables), vae_variables)
        gradients = tape.gradient(discriminator_loss, discriminator_variables)
        self.discriminator_optimizer.apply(gradients, discriminator_variables)
        del tape
        return self._record(terms)
