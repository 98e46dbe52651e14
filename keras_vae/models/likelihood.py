"""`ImageModel`: a model of images x in [0, 1] through a decoder likelihood p(x | ...).

It owns what every image model shares, whatever its latent (a flat code, a VAE's z, a grid of
VQ codes): the image shape, the likelihood of the decoder's raw outputs (Bernoulli logits, or a
Gaussian with mean sigmoid(raw) and one sigma per channel, fixed unless learned), dynamic
binarization, and the reconstruction errors `evaluate` reports.

Shapes: images [B, H, W, C] float32 in [0, 1]; raw decoder outputs [B, H, W, C]; per-example
terms [B] in nats.
"""

import math

import keras
import tensorflow as tf

from keras_vae.core import losses
from keras_vae.core.checks import checked
from keras_vae.core.contract import NATS
from keras_vae.core.errors import ConfigError
from keras_vae.core.registration import plain
from keras_vae.models import figures as image_figures
from keras_vae.models.base import ZooModel


def reconstruction_headline(metrics):
    """["BCE 58.5", "MSE 0.0040"]: an image model's headline (`ZooModel.headline`).

    Args:
        metrics: evaluated metrics with "bce" (nats per example) and "mse" (per pixel).

    Returns:
        A list of str.
    """
    return [f"BCE {metrics['bce']:.1f}", f"MSE {metrics['mse']:.4f}"]


def bound_headline(metrics):
    """["ELBO -96.5", "IWAE (k = 1000) -91.2", "9/10 active units"]: the headline of a model with
    a bound on log p(x) (`ZooModel.headline`).

    Args:
        metrics: evaluated metrics with "elbo" (nats); "iwae" and "iwae_k" when the bound was
            run; "active_units" of "latent_dim" when the model counts them.

    Returns:
        A list of str.
    """
    parts = [f"ELBO {metrics['elbo']:.1f}"]
    if metrics.get("iwae") is not None:
        parts.append(f"IWAE (k = {metrics['iwae_k']}) {metrics['iwae']:.1f}")
    if "active_units" in metrics:
        parts.append(f"{metrics['active_units']}/{metrics['latent_dim']} active units")
    return parts


class ImageModel(ZooModel):
    """A ZooModel of images through a decoder likelihood (the module docstring).

    Args:
        image_shape: (H, W, C) of the images; the entries fill it in from the data.
        likelihood: "bernoulli" (the decoder's raw outputs are logits; the loss is the Bernoulli
            cross-entropy) or "gaussian" (mean sigmoid(raw), one sigma per channel).
        gaussian_sigma: the Gaussian's initial (or fixed) standard deviation, pixels in [0, 1];
            at least `losses.SIGMA_MIN`.
        learn_sigma: whether the Gaussian's log sigma per channel is trained.
        binarize: dynamic binarization (Bernoulli only): train on fresh draws x_b ~ Bernoulli(x)
            each step, evaluate on one fixed draw.
        **kwargs: `ZooModel` arguments (seed) and `keras.Model` arguments.

    Raises:
        ConfigError: an unknown likelihood, an image_shape that is not three sides >= 1,
            binarize with the Gaussian likelihood, or gaussian_sigma < SIGMA_MIN.
    """

    drawers = {"reconstructions": image_figures.reconstructions}

    def __init__(
        self,
        image_shape=(28, 28, 1),
        likelihood="bernoulli",
        gaussian_sigma=0.1,
        learn_sigma=False,
        binarize=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if likelihood not in losses.LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {losses.LIKELIHOODS}, got {likelihood!r}")
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ConfigError(f"image_shape must be [height, width, channels], got {image_shape!r}")
        if binarize and likelihood != "bernoulli":
            raise ConfigError("binarize needs the bernoulli likelihood")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.likelihood = likelihood
        self.gaussian_sigma = checked(
            "gaussian_sigma",
            gaussian_sigma,
            lambda v: v >= losses.SIGMA_MIN,
            f">= {losses.SIGMA_MIN:g} (losses.SIGMA_MIN)",
        )
        self.learn_sigma = learn_sigma
        self.binarize = binarize

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": plain(self.image_shape),
            "likelihood": self.likelihood,
            "gaussian_sigma": self.gaussian_sigma,
            "learn_sigma": self.learn_sigma,
            "binarize": self.binarize,
        }

    def build_likelihood(self):
        """The likelihood's own weight, from `build_networks`: a Gaussian's log sigma per channel
        (`log_sigma`, float [C]; None for the Bernoulli likelihood)."""
        self.log_sigma = None
        if self.likelihood == "gaussian":
            self.log_sigma = self.add_weight(
                name="log_sigma",
                shape=(self.image_shape[-1],),
                initializer=keras.initializers.Constant(math.log(self.gaussian_sigma)),
                trainable=self.learn_sigma,
            )

    @staticmethod
    def mean(raw):
        """The decoder mean, images in [0, 1]: sigmoid of the raw outputs under either likelihood.

        Args:
            raw: the decoder's raw outputs [B, H, W, C].

        Returns:
            [B, H, W, C] in [0, 1], raw's dtype.
        """
        return tf.sigmoid(raw)

    def targets(self, x, training):
        """What the decoder must explain: x, or a binarization of it.

        Training draws a fresh binarization each step (dynamic binarization); evaluation uses a
        fixed seed so the test loss is repeatable.

        Args:
            x: images [B, H, W, C] in [0, 1].
            training: whether to draw a fresh binarization (else the fixed stateless one).

        Returns:
            x itself without `binarize`, else a {0, 1} tensor of x's shape and dtype.
        """
        if not self.binarize:
            return x
        shape = tf.shape(x)
        u = (
            self.noise.uniform(shape, x.dtype)
            if training
            else tf.random.stateless_uniform(shape, seed=[0, 0], dtype=x.dtype)
        )
        return tf.cast(u < x, x.dtype)

    def reconstruction_nll(self, x, raw):
        """-log p(x | latent) per example, from the decoder's raw outputs.

        Args:
            x: the targets [B, H, W, C] in [0, 1] (`targets`).
            raw: the decoder's raw outputs [B, H, W, C].

        Returns:
            float32 [B], nats per example.
        """
        if self.likelihood == "bernoulli":
            return -losses.bernoulli_log_prob(x, raw)
        return -losses.gaussian_log_prob(x, tf.sigmoid(raw), self.log_sigma)

    def reconstruction_errors(self, target, raw):
        """BCE (nats per example, summed over pixels) and MSE (per pixel) of the decoder mean.

        Args:
            target: images [B, H, W, C] in [0, 1].
            raw: the decoder's raw outputs [B, H, W, C].

        Returns:
            {"bce": float32 [B], "mse": float32 [B]}; bce under either likelihood.
        """
        axes = tuple(range(1, len(target.shape)))
        error = tf.cast(target, tf.float32) - tf.cast(self.mean(raw), tf.float32)
        return {"bce": -losses.bernoulli_log_prob(target, raw), "mse": tf.reduce_mean(tf.square(error), axes)}

    def evaluation_header(self):
        if self.binarize:
            binarization = (
                "binarized: trained on fresh draws, evaluated on one fixed draw (stateless seed) of the test images"
            )
        elif self.likelihood == "bernoulli":
            binarization = (
                "none: Bernoulli cross-entropy of grey levels in [0, 1], not a normalized density, "
                "so not comparable with binarized-MNIST log-likelihoods"
            )
        else:
            binarization = "none: Gaussian density of pixel values scaled to [0, 1], without dequantization"
        return {"likelihood": self.likelihood, "binarization": binarization, "units": f"{NATS} (mse: per pixel)"}

    def headline(self, metrics):
        """The reconstruction errors (`reconstruction_headline`)."""
        return reconstruction_headline(metrics)
