"""The two bases every zoo model subclasses: `Autoencoder` and `VAE`.

A model is an encoder and a decoder (separate functional sub-models, so each exports alone), a
decoder likelihood, and `loss_terms`: per-example float32 tensors, "loss" being the objective.
`train_step` and `test_step` live here once; a variant overrides `loss_terms` and nothing else.
"""

import math

import keras
import tensorflow as tf

from keras_vae import distribute, losses
from keras_vae.errors import ConfigError
from keras_vae.layers import Noise, reparameterize
from keras_vae.models.checks import checked
from keras_vae.registry import constructor_args


def _plain(value):
    """Config values as JSON-able Python (Keras wraps list attributes in tracked lists)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Autoencoder(keras.Model):
    """Deterministic autoencoder: x -> code -> decoder mean. Also the base of the VAEs.

    Subclasses supply `encoder_trunk()` (images -> features) and `build_decoder()` (z -> one raw
    output per pixel); architecture mixins in `models/architectures.py` do both.
    """

    loss_names = ("loss", "reconstruction")
    code_activation = None

    def __init__(
        self,
        image_shape=(28, 28, 1),
        latent_dim=16,
        likelihood="bernoulli",
        gaussian_sigma=0.1,
        learn_sigma=False,
        binarize=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if likelihood not in losses.LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {losses.LIKELIHOODS}, got {likelihood!r}")
        checked("latent_dim", latent_dim, lambda v: v >= 1, "an integer >= 1", kind=int)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ConfigError(f"image_shape must be [height, width, channels], got {image_shape!r}")
        checked("gaussian_sigma", gaussian_sigma, lambda v: v >= losses.SIGMA_MIN, f">= {losses.SIGMA_MIN:g} (losses.SIGMA_MIN)")
        if binarize and likelihood != "bernoulli":
            raise ConfigError("binarize needs the bernoulli likelihood")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.gaussian_sigma = gaussian_sigma
        self.learn_sigma = learn_sigma
        self.binarize = binarize
        self.seed = seed
        self.noise = Noise(seed=seed, name="noise")
        self.encoder = self.build_encoder()
        self.decoder = self.build_decoder()
        self.log_sigma = None
        if likelihood == "gaussian":
            # One sigma per channel; fixed unless learn_sigma.
            self.log_sigma = self.add_weight(
                name="log_sigma",
                shape=(self.image_shape[-1],),
                initializer=keras.initializers.Constant(math.log(gaussian_sigma)),
                trainable=learn_sigma,
            )
        self.trackers = [keras.metrics.Mean(name=name) for name in self.loss_names]
        self.built = True  # every weight exists once the sub-models do

    # -- networks -----------------------------------------------------------------------------
    def build_encoder(self):
        inputs, features = self.encoder_trunk()
        code = keras.layers.Dense(self.latent_dim, activation=self.code_activation, name="code")(features)
        return keras.Model(inputs, code, name="encoder")

    def encode(self, x, training=False):
        return self.encoder(x, training=training)

    def code(self, x, training=False):
        """The deterministic latent of x (the code; a VAE's posterior mean)."""
        return self.encode(x, training=training)

    def decode(self, z, training=False):
        """The decoder mean, an image in [0, 1] (Bernoulli: sigmoid of the logits)."""
        return tf.sigmoid(self.decoder(z, training=training))

    def call(self, x, training=False):
        return self.decode(self.code(x, training=training), training=training)

    # -- objective ----------------------------------------------------------------------------
    def targets(self, x, training):
        """What the decoder must explain: x, or a binarization of it.

        Training draws a fresh binarization each step (dynamic binarization); evaluation uses a
        fixed seed so the test loss is repeatable.
        """
        if not self.binarize:
            return x
        shape = tf.shape(x)
        u = self.noise.uniform(shape, x.dtype) if training else tf.random.stateless_uniform(
            shape, seed=[0, 0], dtype=x.dtype
        )
        return tf.cast(u < x, x.dtype)

    def reconstruction_nll(self, x, raw):
        """-log p(x | z) per example, from the decoder's raw outputs."""
        if self.likelihood == "bernoulli":
            return -losses.bernoulli_log_prob(x, raw)
        return -losses.gaussian_log_prob(x, tf.sigmoid(raw), self.log_sigma)

    def encoder_input(self, target, training):
        """What the encoder sees: the target itself. A denoising model corrupts it when training,
        so `call`, `test_step` and the exported encoder never see noise."""
        return target

    def loss_terms(self, x, training=False):
        """Per-example terms; "code" is the encoder output, for penalties on the code."""
        target = self.targets(x, training)
        code = self.encode(self.encoder_input(target, training), training=training)
        recon = self.reconstruction_nll(target, self.decoder(code, training=training))
        return {"loss": recon, "reconstruction": recon, "code": code}

    # -- training -----------------------------------------------------------------------------
    @property
    def metrics(self):
        return self.trackers

    @staticmethod
    def images(data):
        """Datasets yield (images, labels) for plots; the models need only the images."""
        return data[0] if isinstance(data, (tuple, list)) else data

    def _record(self, terms):
        # distribute.py also shapes the logs so Keras 3.15 can reduce them across workers.
        return distribute.record_means(self.trackers, terms)

    def objective(self, terms):
        """The scalar to minimize: per-example loss averaged over the global batch, so gradients
        summed across replicas by tf.distribute equal the single-device gradient."""
        loss = tf.nn.compute_average_loss(
            terms["loss"], global_batch_size=distribute.global_batch_size(terms["loss"])
        )
        if self.losses:
            loss += tf.nn.scale_regularization_loss(tf.add_n(self.losses))
        return loss

    def train_step(self, data):
        x = self.images(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, training=True)
            scaled = self.optimizer.scale_loss(self.objective(terms))
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._record(terms)

    def test_step(self, data):
        return self._record(self.loss_terms(self.images(data), training=False))

    # -- serialization ------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        for name in constructor_args(type(self)):
            config[name] = _plain(getattr(self, name))
        return config


class VAE(Autoencoder):
    """Variational autoencoder: q(z|x) = N(mean, diag(exp(log_var))), p(z) = N(0, I).

    loss = -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z)), one reparameterized sample per example.
    """

    loss_names = ("loss", "reconstruction", "kl")

    def build_encoder(self):
        inputs, features = self.encoder_trunk()
        mean = keras.layers.Dense(self.latent_dim, name="z_mean")(features)
        log_var = keras.layers.Dense(self.latent_dim, name="z_log_var")(features)
        return keras.Model(inputs, [mean, log_var], name="encoder")

    def code(self, x, training=False):
        return self.encode(x, training=training)[0]

    def loss_terms(self, x, training=False, eps=None):
        """Per-example -ELBO terms; `eps` fixes the reparameterization noise (tests, beta=1 checks)."""
        target = self.targets(x, training)
        mean, log_var = self.encode(self.encoder_input(target, training), training=training)
        if eps is None:
            eps = self.noise.normal(tf.shape(mean), mean.dtype)
        raw = self.decoder(reparameterize(mean, log_var, eps), training=training)
        recon = self.reconstruction_nll(target, raw)
        kl_per_dim = losses.gaussian_kl_per_dim(mean, log_var)
        kl = tf.reduce_sum(kl_per_dim, axis=-1)
        return {"loss": recon + kl, "reconstruction": recon, "kl": kl, "kl_per_dim": kl_per_dim}

    def sample(self, n, seed=None):
        """n images decoded from z ~ N(0, I); the same seed gives the same images."""
        shape = (n, self.latent_dim)
        if seed is None:
            z = tf.random.normal(shape)
        else:
            z = tf.random.stateless_normal(shape, seed=[seed, 0])
        return self.decode(z)
