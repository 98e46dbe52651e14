"""`denoising_ae`: corrupt the input, reconstruct the clean input (Vincent et al. 2008).

Only training corrupts (through the `encoder_input` hook, which `train_step` reaches with
training=True); `call`, `test_step` and the exported encoder and decoder see clean inputs.
`corrupt()` applies the same corruption on demand, for demos and tests.
"""

import math

import tensorflow as tf

from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS, Term
from keras_vae.core.errors import ConfigError
from keras_vae.core.layers import top_k_mask
from keras_vae.core.registration import register_model
from keras_vae.models.ae import figures as ae_figures
from keras_vae.models.ae.plain import AE

CORRUPTIONS = ("masking", "gaussian", "salt_and_pepper")


@register_model
class DenoisingAE(AE):
    """noise_level is the fraction of input dimensions destroyed (masking, salt_and_pepper) or the
    standard deviation of the added noise (gaussian).

    - masking: a fixed number, round(noise_level * d), of the d input dimensions, chosen at random
      for each example, are set to 0 (the paper's choice);
    - salt_and_pepper: as many dimensions are set to 0 or 1 by a fair coin flip;
    - gaussian: x + N(0, noise_level^2) on every dimension, not clipped, so sigma is exact.

    Args:
        corruption: "masking", "gaussian" or "salt_and_pepper".
        noise_level: a fraction in [0, 1] (masking, salt_and_pepper) or a sigma >= 0 (gaussian),
            pixels in [0, 1].
        **kwargs: `AE` arguments (code_activation, latent_dim, ...).

    Raises:
        ConfigError: an unknown corruption, or a noise_level out of its range.
    """

    figures = ("denoising", "latent_space", "interpolation")
    drawers = {**AE.drawers, "denoising": ae_figures.denoising}
    card_figures = ("denoising",)
    term_docs = {
        **AE.term_docs,
        "corrupted_bce": Term(NATS, "bce of the clean image when the input is corrupted"),
        "corrupted_mse": Term("per pixel", "mse of the clean image when the input is corrupted"),
    }

    def __init__(self, corruption="masking", noise_level=0.25, **kwargs):
        super().__init__(**kwargs)
        if corruption not in CORRUPTIONS:
            raise ConfigError(f"corruption must be one of {CORRUPTIONS}, got {corruption!r}")
        if corruption == "gaussian":
            checked("noise_level", noise_level, lambda v: v >= 0, "a noise sigma >= 0")
        else:
            checked("noise_level", noise_level, lambda v: 0 <= v <= 1, f"a {corruption} fraction in [0, 1]")
        self.corruption = corruption
        self.noise_level = noise_level

    def get_config(self):
        return {**super().get_config(), "corruption": self.corruption, "noise_level": self.noise_level}

    def figure_file(self, name):
        """A denoiser's figure is its reconstructions: reconstructions.png."""
        return "reconstructions.png" if name == "denoising" else super().figure_file(name)

    def corrupt(self, x):
        """x with fresh corruption noise drawn from the model's generator.

        Args:
            x: images [B, H, W, C] in [0, 1].

        Returns:
            the corrupted images, x's shape and dtype (not clipped under "gaussian").
        """
        x = tf.convert_to_tensor(x)
        if self.corruption == "gaussian":
            return x + tf.cast(self.noise_level, x.dtype) * self.noise.normal(tf.shape(x), x.dtype)
        flat = tf.reshape(x, [-1, math.prod(self.image_shape)])
        destroyed = top_k_mask(self.noise.uniform(tf.shape(flat), flat.dtype), round(self.noise_level * flat.shape[-1]))
        if self.corruption == "masking":
            replacement = tf.zeros_like(flat)
        else:
            replacement = tf.cast(self.noise.uniform(tf.shape(flat), flat.dtype) < 0.5, flat.dtype)
        return tf.reshape(flat * (1 - destroyed) + replacement * destroyed, tf.shape(x))

    def encoder_input(self, target, training):
        return self.corrupt(target) if training else target

    def evaluation_terms(self, batch, terms):
        """Also the errors when the input is corrupted and the target clean."""
        target = self.targets(batch["images"], training=False)
        raw = self.decoder_raw(self.code(self.corrupt(target)), {})
        corrupted = {f"corrupted_{name}": value for name, value in self.reconstruction_errors(target, raw).items()}
        return {**super().evaluation_terms(batch, terms), **corrupted}
