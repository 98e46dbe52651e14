"""Layers and encoder/decoder builders shared by the models.

Builders return functional sub-models, so an encoder or decoder exports on its own. A decoder
ends in `channels` raw outputs per pixel (logits or pre-sigmoid means); the likelihood decides.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core.errors import ConfigError
from keras_vae.core.losses import clamp_log_var


@keras.saving.register_keras_serializable(package="keras_vae")
class Noise(keras.layers.Layer):
    """The models' source of randomness (reparameterization noise, binarization, corruption).

    A `tf.random.Generator` rather than a Keras SeedGenerator: created under a `tf.distribute`
    strategy it gives each replica its own stream. Draws come in the caller's dtype, so under
    mixed precision the noise is in the compute dtype.

    Args:
        seed: int seed of the generator; None draws one from NumPy's global state at the first
            draw (so `keras.utils.set_random_seed` still makes runs repeat).
        **kwargs: `keras.layers.Layer` arguments (name, dtype).
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._generator = None
        self.built = True  # no Keras weights: nothing to build from an input

    @property
    def generator(self):
        if self._generator is None:
            # Without a seed, draw one from NumPy's global state, which
            # keras.utils.set_random_seed sets: seeded runs repeat.
            seed = self.seed if self.seed is not None else int(np.random.randint(2**31 - 1))
            self._generator = tf.random.Generator.from_seed(seed)
        return self._generator

    def normal(self, shape, dtype="float32"):
        """Standard normal draws.

        Args:
            shape: the shape to draw (a list or an int32 tensor).
            dtype: the dtype of the draws.

        Returns:
            a tensor of `shape` and `dtype`, N(0, 1) per entry.
        """
        return self.generator.normal(shape, dtype=dtype)

    def uniform(self, shape, dtype="float32"):
        """Uniform draws in [0, 1).

        Args:
            shape: the shape to draw (a list or an int32 tensor).
            dtype: the dtype of the draws.

        Returns:
            a tensor of `shape` and `dtype`.
        """
        return self.generator.uniform(shape, dtype=dtype)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def reparameterize(mean, log_var, eps):
    """z = mean + exp(log_var / 2) * eps: the sample stays differentiable in mean and log_var.

    log_var is clamped as in the KL (losses.LOG_VAR_MIN..LOG_VAR_MAX), so exp cannot overflow
    float16 under mixed precision.

    Args:
        mean: means [..., latent], any float dtype.
        log_var: log-variances, the shape of mean.
        eps: N(0, 1) noise broadcast against mean: [..., latent], or [S, B, latent] for S samples
            of mean [B, latent].

    Returns:
        z, the broadcast shape of mean and eps, in their dtype.
    """
    return mean + tf.exp(0.5 * clamp_log_var(log_var)) * eps


def dense_trunk(images, hidden_sizes, activation="relu"):
    """Flatten, then a stack of Dense layers: images -> features.

    Args:
        images: a symbolic input [B, H, W, C] (or any [B, ...]).
        hidden_sizes: the units of each Dense layer, in order; [] leaves the flattened pixels.
        activation: the Keras activation of every layer.

    Returns:
        the symbolic features [B, hidden_sizes[-1]] ([B, H * W * C] with no hidden layers).
    """
    h = keras.layers.Flatten()(images)
    for i, units in enumerate(hidden_sizes):
        h = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(h)
    return h


def dense_decoder_body(h, hidden_sizes, image_shape, activation="relu"):
    """The mirrored MLP: latent features -> per-pixel raw outputs of shape image_shape.

    Args:
        h: symbolic latent features [B, n].
        hidden_sizes: the encoder's hidden sizes; the decoder takes them in reverse order.
        image_shape: (H, W, C) of the outputs.
        activation: the Keras activation of the hidden layers (the output layer is linear).

    Returns:
        symbolic raw outputs [B, H, W, C] (logits, or pre-sigmoid means).
    """
    for i, units in enumerate(reversed(hidden_sizes)):
        h = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(h)
    h = keras.layers.Dense(math.prod(image_shape), name="pixels")(h)
    return keras.layers.Reshape(tuple(image_shape), name="outputs")(h)


CONV_STRIDE = 2


def check_conv_shape(image_shape, filters, kernel_size):
    """Sides must divide by the downsampling factor; kernel >= stride keeps ONNX pads valid.

    Args:
        image_shape: (H, W, C).
        filters: the conv layers' filters; their number sets the factor CONV_STRIDE ** len(filters).
        kernel_size: the side of the square kernels.

    Raises:
        ConfigError: H or W is not divisible by the factor, or kernel_size < CONV_STRIDE.
    """
    factor = CONV_STRIDE ** len(filters)
    height, width = image_shape[:2]
    if height % factor or width % factor:
        raise ConfigError(
            f"image sides {height}x{width} must be divisible by {factor} "
            f"(stride {CONV_STRIDE} ** {len(filters)} conv layers)"
        )
    if kernel_size < CONV_STRIDE:
        raise ConfigError(f"kernel_size must be >= the stride {CONV_STRIDE}, got {kernel_size}")


def conv_trunk(images, filters, kernel_size, hidden_dim, activation="relu"):
    """Strided Conv2D stack, then a Dense layer: images -> features.

    Args:
        images: a symbolic input [B, H, W, C].
        filters: the filters of each stride-2 "same" conv layer, in order.
        kernel_size: the side of the square kernels.
        hidden_dim: the units of the final Dense layer.
        activation: the Keras activation of every layer.

    Returns:
        the symbolic features [B, hidden_dim].
    """
    h = images
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(
            f, kernel_size, strides=CONV_STRIDE, padding="same", activation=activation, name=f"conv_{i}"
        )(h)
    h = keras.layers.Flatten()(h)
    return keras.layers.Dense(hidden_dim, activation=activation, name="dense")(h)


def conv_decoder_body(h, filters, kernel_size, hidden_dim, image_shape, activation="relu"):
    """The mirror of `conv_trunk`: Dense, reshape, strided Conv2DTranspose up to image_shape.

    Args:
        h: symbolic latent features [B, n].
        filters: the encoder's filters; the transposed convs take them in reverse order.
        kernel_size: the side of the square kernels.
        hidden_dim: the units of the first Dense layer.
        image_shape: (H, W, C) of the outputs; H and W divisible by CONV_STRIDE ** len(filters).
        activation: the Keras activation of the hidden layers (the output conv is linear).

    Returns:
        symbolic raw outputs [B, H, W, C] (logits, or pre-sigmoid means).
    """
    factor = CONV_STRIDE ** len(filters)
    height, width, channels = image_shape
    start = (height // factor, width // factor, filters[-1])
    h = keras.layers.Dense(hidden_dim, activation=activation, name="dense")(h)
    h = keras.layers.Dense(math.prod(start), activation=activation, name="project")(h)
    h = keras.layers.Reshape(start, name="unflatten")(h)
    for i, f in enumerate(reversed(filters)):
        h = keras.layers.Conv2DTranspose(
            f, kernel_size, strides=CONV_STRIDE, padding="same", activation=activation, name=f"deconv_{i}"
        )(h)
    return keras.layers.Conv2D(channels, kernel_size, padding="same", name="outputs")(h)


@keras.saving.register_keras_serializable(package="keras_vae")
class OneHot(keras.layers.Layer):
    """Integer class indices [B] -> one-hot float vectors [B, classes] (a condition's input to
    a network; ONNX has the same OneHot op).

    Args:
        classes: the number of classes K; indices are in [0, K).
        **kwargs: `keras.layers.Layer` arguments (name, dtype).
    """

    def __init__(self, classes, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes

    def call(self, indices):
        """Args: indices: integer (or integer-valued float) [B]. Returns: [B, classes] in the compute dtype."""
        return tf.one_hot(tf.cast(indices, tf.int32), self.classes, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.classes)

    def get_config(self):
        return {**super().get_config(), "classes": self.classes}


def top_k_mask(scores, k):
    """1 at the k largest scores of each row, 0 elsewhere: exactly k ones per row, even with ties
    (ranks from a double argsort are a permutation).

    Args:
        scores: float [..., n].
        k: the number of ones per row, 0 <= k <= n (an int, or an int scalar tensor).

    Returns:
        [..., n] in the dtype of `scores`, with k ones per row.
    """
    ranks = tf.argsort(tf.argsort(scores, axis=-1, direction="DESCENDING"), axis=-1)
    return tf.cast(ranks < k, scores.dtype)
