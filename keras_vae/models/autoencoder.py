"""`Autoencoder`: images (and optional integer conditions) -> a flat code -> a decoder likelihood.

The base of the deterministic autoencoders and of the VAEs. The networks come from the
`architecture` named in the config (`models/architectures.py`); the latent head (a code layer,
or a VAE's mean and log-variance) from the family. A model with `condition_classes`
({"labels": 10}) feeds each condition, one-hot, to both networks next to the image features and
next to z (the conditional models of Sohn et al. 2015 and Kingma et al. 2014).

Shapes: images [B, H, W, C] float32 in [0, 1]; conditions [B] int32; codes [B, latent_dim].
"""

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core.checks import checked, hidden_activation, positive_ints
from keras_vae.core.contract import NATS, Part, TensorInput, Term
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.core.layers import OneHot
from keras_vae.core.registration import plain
from keras_vae.models import figures as image_figures
from keras_vae.models.architectures import ARCHITECTURES, conv_stages
from keras_vae.models.base import as_batch
from keras_vae.models.likelihood import ImageModel


class Autoencoder(ImageModel):
    """x -> code -> decoder mean; loss = -log p(x | code), nats per example.

    Args:
        latent_dim: the size of the code (a VAE's z).
        architecture: the networks, a name in `models.architectures.ARCHITECTURES` ("dense", "conv").
        hidden_sizes: the dense architecture's hidden layers, encoder order; [] is one layer each way.
        filters: the conv architecture's filters per stride-2 layer (H and W must divide by
            2 ** len(filters)); None: chosen from the image size (`architectures.conv_stages`:
            32, 64 below 64x64, 32, 32, 64, 64 from 64x64).
        kernel_size: the conv architecture's kernel side (an integer >= 1; the conv networks need >= 2);
            None: chosen from the image size (3, or 4 from 64x64).
        hidden_dim: the conv architecture's Dense layer between the convs and the code; None: chosen
            from the image size (128, or 256 from 64x64).
        activation: the hidden layers' activation, one of `core.checks.HIDDEN_ACTIVATIONS`.
        **kwargs: `ImageModel` arguments (image_shape, likelihood, ...) and `ZooModel`'s (seed).

    Raises:
        ConfigError: an unknown architecture or activation, a latent_dim < 1, sizes that are not
            integers >= 1, or image sides the conv architecture cannot take.
    """

    loss_names = ("loss", "reconstruction")
    code_names = ("code",)  # the encoder's outputs, as exported
    code_activation = None
    figures = ("reconstructions", "latent_space", "interpolation")
    drawers = {
        **ImageModel.drawers,
        "latent_space": image_figures.latent_space,
        "interpolation": image_figures.interpolation,
    }
    card_figures = ("reconstructions",)
    term_docs = {
        **ImageModel.term_docs,
        "reconstruction": Term(NATS, "-log p(x | z), the decoder's negative log-likelihood of the image"),
        "bce": Term(NATS, "cross-entropy of the decoder mean at the code, summed over pixels"),
        "mse": Term("per pixel", "squared error of the decoder mean at the code"),
    }

    def __init__(
        self,
        latent_dim=16,
        architecture="dense",
        hidden_sizes=(512, 256),
        filters=None,
        kernel_size=None,
        hidden_dim=None,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if architecture not in ARCHITECTURES:
            raise ConfigError(f"architecture must be one of {tuple(ARCHITECTURES)}, got {architecture!r}")
        self.latent_dim = checked("latent_dim", latent_dim, lambda v: v >= 1, "an integer >= 1", kind=int)
        self.architecture = architecture
        self.hidden_sizes = positive_ints("hidden_sizes", hidden_sizes, allow_empty=True)  # []: one layer each way
        # A conv setting left None is chosen from the image size (conv_stages: the shipped
        # 28x28 network below 64x64, Higgins et al.'s four stages from 64x64); get_config records
        # the values chosen, so a saved model rebuilds the same network whatever the rule becomes.
        chosen = dict(zip(("filters", "kernel_size", "hidden_dim"), conv_stages(self.image_shape)))
        given = {"filters": filters, "kernel_size": kernel_size, "hidden_dim": hidden_dim}
        self.chosen_from_image = tuple(key for key, value in given.items() if value is None)
        given.update({key: chosen[key] for key in self.chosen_from_image})
        self.filters = positive_ints("filters", given["filters"])
        (self.kernel_size,) = positive_ints("kernel_size", [given["kernel_size"]])
        (self.hidden_dim,) = positive_ints("hidden_dim", [given["hidden_dim"]])
        self.activation = hidden_activation(activation)

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "architecture": self.architecture,
            "hidden_sizes": plain(self.hidden_sizes),
            "filters": plain(self.filters),
            "kernel_size": self.kernel_size,
            "hidden_dim": self.hidden_dim,
            "activation": self.activation,
        }

    # -- conditions ---------------------------------------------------------------------------
    @property
    def batch_keys(self):
        return ("images", *self.condition_classes)

    def conditions(self, batch):
        """The conditions of a batch, in `condition_classes` order.

        Args:
            batch: a dict batch.

        Returns:
            {key: int [B]} for each key of `condition_classes` ({} if unconditional).
        """
        return {key: batch[key] for key in self.condition_classes}

    def sample_conditions(self, n, given):
        """{key: int32 [n]} for `sample`: a given value (one int, or n ints) per condition; a
        condition not given cycles through its classes (0, 1, ..., K-1, 0, ...).

        Args:
            n: the number of samples.
            given: {key: an int, or n ints} as passed to `sample`.

        Returns:
            {key: int32 [n]} for each key of `condition_classes`.

        Raises:
            UserError: an unknown condition, or a value that is not n or one integer in [0, K).
        """
        unknown = sorted(set(given) - set(self.condition_classes))
        if unknown:
            takes = f"takes only {', '.join(self.condition_classes)}" if self.condition_classes else "is unconditional"
            raise UserError(f"{type(self).__name__} {takes}: it cannot be given {', '.join(unknown)}")
        conditions = {}
        for key, classes in self.condition_classes.items():
            value = np.asarray(given[key]) if key in given else np.arange(n) % classes
            if (
                value.shape not in ((), (n,))
                or not np.issubdtype(value.dtype, np.integer)
                or value.min() < 0
                or value.max() >= classes
            ):
                raise UserError(
                    f"{key} must be an integer in [0, {classes - 1}], or {n} of them (one per sample), "
                    f"got {given[key]!r}"
                )
            value = np.broadcast_to(value, (n,))
            conditions[key] = tf.constant(value, tf.int32)
        return conditions

    def _with_conditions(self, x, conditions):
        """A network's input: x alone, or [x, *conditions] for a conditional model."""
        if not self.condition_classes:
            return x
        # Keras refuses a list that mixes arrays and tensors: make every entry a tensor.
        return [tf.convert_to_tensor(x), *(tf.convert_to_tensor(conditions[key]) for key in self.condition_classes)]

    def _condition_inputs(self):
        return [keras.Input(shape=(), dtype="int32", name=key) for key in self.condition_classes]

    def _append_conditions(self, h, inputs):
        """h next to the one-hot conditions (no-op for an unconditional model)."""
        if not inputs:
            return h
        one_hots = [OneHot(k, name=f"{key}_one_hot")(x) for (key, k), x in zip(self.condition_classes.items(), inputs)]
        return keras.layers.Concatenate(name="with_conditions")([h, *one_hots])

    def figure_file(self, name):
        """The latent space is a scatter up to 2-D (latent_scatter.png), a PCA above (latent_pca.png)."""
        return image_figures.latent_file(self) if name == "latent_space" else super().figure_file(name)

    # -- networks -----------------------------------------------------------------------------
    def build_networks(self):
        architecture = ARCHITECTURES[self.architecture]
        architecture.check(self)
        self.encoder = self.build_encoder(architecture)
        self.decoder = self.build_decoder(architecture)
        self.build_likelihood()

    def build_encoder(self, architecture):
        images = keras.Input(shape=self.image_shape, name="images")
        conditions = self._condition_inputs()
        features = self._append_conditions(architecture.trunk(self, images), conditions)
        inputs = [images, *conditions] if conditions else images
        return keras.Model(inputs, self.latent_head(features), name="encoder")

    def latent_head(self, features):
        return keras.layers.Dense(self.latent_dim, activation=self.code_activation, name="code")(features)

    def build_decoder(self, architecture):
        z = keras.Input(shape=(self.latent_dim,), name="z")
        conditions = self._condition_inputs()
        outputs = architecture.decoder(self, self._append_conditions(z, conditions))
        return keras.Model([z, *conditions] if conditions else z, outputs, name="decoder")

    def encode(self, batch, training=False):
        """The encoder's outputs for a batch.

        Args:
            batch: a dict ({"images": [B, H, W, C] float32 in [0, 1], and the conditions}), or an
                image tensor if unconditional.
            training: whether the encoder runs in training mode.

        Returns:
            the code [B, latent_dim]; a VAE's [mean, log_var], each [B, latent_dim].
        """
        batch = as_batch(batch)
        return self.encoder(self._with_conditions(batch["images"], self.conditions(batch)), training=training)

    has_code = True

    def code(self, batch, training=False):
        """The deterministic latent [B, latent_dim] (the code; a VAE's posterior mean).

        Args:
            batch: as for `encode`.
            training: whether the encoder runs in training mode.

        Returns:
            float [B, latent_dim] in the compute dtype.
        """
        return self.encode(batch, training=training)

    def decoder_raw(self, z, conditions, training=False):
        """The decoder's raw outputs.

        Args:
            z: latents [B, latent_dim].
            conditions: {key: int [B]} (`conditions(batch)`; {} if unconditional).
            training: whether the decoder runs in training mode.

        Returns:
            [B, H, W, C]: logits (Bernoulli) or pre-sigmoid means (Gaussian).
        """
        return self.decoder(self._with_conditions(z, conditions), training=training)

    def decode(self, z, training=False, **conditions):
        """The decoder mean, images in [0, 1] (sigmoid of the raw outputs under either likelihood).

        Args:
            z: latents [B, latent_dim].
            training: whether the decoder runs in training mode.
            **conditions: a conditional model's conditions, each int [B] (e.g. labels=...).

        Returns:
            images [B, H, W, C] in [0, 1].
        """
        return self.mean(self.decoder_raw(z, conditions, training=training))

    def reconstruct(self, batch):
        """The decoder mean at the code of each image of the batch.

        Args:
            batch: as for `encode`.

        Returns:
            images [B, H, W, C] in [0, 1].
        """
        return self.call(batch)

    def call(self, batch, training=False):
        batch = as_batch(batch)
        return self.decode(self.code(batch, training=training), training=training, **self.conditions(batch))

    # -- objective ----------------------------------------------------------------------------
    def encoder_input(self, target, training):
        """What the encoder sees: the target itself. A denoising model corrupts it when training,
        so `call`, `test_step` and the exported encoder never see noise.

        Args:
            target: images [B, H, W, C] (`targets`).
            training: whether this is a training step.

        Returns:
            the encoder's input images, the shape of target.
        """
        return target

    def loss_terms(self, batch, training=False):
        """Per-example terms; "code" is the encoder output, for penalties on the code.

        Args:
            batch: {"images": [B, H, W, C] float32 in [0, 1], and the conditions}.
            training: whether the networks run in training mode.

        Returns:
            {"loss": float32 [B], "reconstruction": float32 [B] (both -log p(x | code), nats per
            example), "code": [B, latent_dim]}.
        """
        target = self.targets(batch["images"], training)
        conditions = self.conditions(batch)
        code = self.encode({"images": self.encoder_input(target, training), **conditions}, training=training)
        recon = self.reconstruction_nll(target, self.decoder_raw(code, conditions, training=training))
        return {"loss": recon, "reconstruction": recon, "code": code}

    # -- evaluation ---------------------------------------------------------------------------
    def evaluation_terms(self, batch, terms):
        target = self.targets(batch["images"], training=False)
        conditions = self.conditions(batch)
        return self.reconstruction_errors(target, self.decoder_raw(self.code({**batch, "images": target}), conditions))

    # -- export -------------------------------------------------------------------------------
    def condition_inputs(self):
        return tuple(TensorInput(key, (), "int32", "index", k) for key, k in self.condition_classes.items())

    def export_parts(self):
        conditions = self.condition_inputs()

        def decoder(z, **conditions):
            return {"images": self.decode(z, **conditions)}

        def encoder(images, **conditions):
            codes = self.encode({"images": images, **conditions})
            return dict(zip(self.code_names, codes if isinstance(codes, (list, tuple)) else [codes]))

        metadata = {"latent_dim": self.latent_dim, "image_shape": list(self.image_shape)}
        return [
            Part(
                "decoder",
                decoder,
                (TensorInput("z", (self.latent_dim,)), *conditions),
                {"images": self.image_shape},
                self.decoder,
                metadata,
            ),
            Part(
                "encoder",
                encoder,
                (TensorInput("images", self.image_shape, values="unit"), *conditions),
                {name: (self.latent_dim,) for name in self.code_names},
                self.encoder,
                metadata,
            ),
        ]
