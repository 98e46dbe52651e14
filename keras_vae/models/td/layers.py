"""The networks of TD-VAE (Gregor et al. 2019, appendix D), each a functional sub-model.

- `d_block`: the paper's "D" layer, [inputs] -> (mean, log_var) of a diagonal Gaussian:
  h = tanh(W1 x) * sigmoid(W2 x), mean = W3 h, log_var = W4 h (x: the inputs concatenated).
- `frame_encoder`: a frame [H, W, C] -> features [hidden_sizes[-1]] (the LSTM's input).
- `frame_decoder`: a state z [state_size] -> Bernoulli logits [H, W, C] of the frame.
- `Gaussian`: a diagonal Gaussian from (mean, log_var), its reparameterized sample and the
  TFP distribution whose log_prob / KL give the loss terms.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from keras_vae.core.layers import dense_decoder_body, dense_trunk
from keras_vae.core.losses import clamp_log_var

tfd = tfp.distributions


def d_block(name, input_sizes, hidden, size):
    """The paper's "D" layer as a functional model.

    Args:
        name: the model's name.
        input_sizes: the sizes of its vector inputs, concatenated in order.
        hidden: the units of the gated hidden layer.
        size: the size of the Gaussian.

    Returns:
        keras.Model [inputs [B, n_i]...] -> [mean [B, size], log_var [B, size]].
    """
    inputs = [keras.Input((n,), name=f"in_{i}") for i, n in enumerate(input_sizes)]
    x = inputs[0] if len(inputs) == 1 else keras.layers.Concatenate(name="inputs")(inputs)
    gate = keras.layers.Dense(hidden, activation="sigmoid", name="gate")(x)
    h = keras.layers.Multiply(name="gated")([keras.layers.Dense(hidden, activation="tanh", name="hidden")(x), gate])
    mean = keras.layers.Dense(size, name="mean")(h)
    log_var = keras.layers.Dense(size, name="log_var")(h)
    return keras.Model(inputs, [mean, log_var], name=name)


def frame_encoder(image_shape, hidden_sizes):
    """A dense frame encoder (`dense_trunk`, ReLU).

    Args:
        image_shape: (H, W, C) of a frame.
        hidden_sizes: the Dense layers' units, in order (non-empty).

    Returns:
        keras.Model frames [B, H, W, C] -> features [B, hidden_sizes[-1]].
    """
    frame = keras.Input(image_shape, name="frame")
    return keras.Model(frame, dense_trunk(frame, hidden_sizes), name="frame_encoder")


def frame_decoder(state_size, hidden_sizes, image_shape):
    """The mirrored dense decoder (`dense_decoder_body`).

    Args:
        state_size: the size of a state z (2 * state_dim).
        hidden_sizes: the encoder's hidden sizes (taken in reverse).
        image_shape: (H, W, C) of a frame.

    Returns:
        keras.Model z [B, state_size] -> Bernoulli logits [B, H, W, C].
    """
    z = keras.Input((state_size,), name="z")
    return keras.Model(z, dense_decoder_body(z, hidden_sizes, image_shape), name="decoder")


class Gaussian:
    """N(mean, diag(exp(log_var))) with log_var clamped as the VAEs clamp it (float32).

    Args:
        mean: [B, size], any float dtype.
        log_var: [B, size], clamped to [LOG_VAR_MIN, LOG_VAR_MAX].
    """

    def __init__(self, mean, log_var):
        self.mean = tf.cast(mean, tf.float32)
        self.log_var = clamp_log_var(tf.cast(log_var, tf.float32))

    @property
    def distribution(self):
        """Independent normals per dimension (cheaper to trace than MultivariateNormalDiag, the
        same density); log_prob and KL sum over the state's dimensions."""
        return tfd.Normal(loc=self.mean, scale=tf.exp(0.5 * self.log_var))

    def sample(self, eps):
        """mean + sigma * eps: differentiable in mean and log_var.

        Args:
            eps: N(0, 1) noise [B, size].

        Returns:
            float32 [B, size].
        """
        return self.mean + tf.exp(0.5 * self.log_var) * eps

    def log_prob(self, z):
        """log N(z; mean, sigma^2) summed over the dimensions.

        Args:
            z: [B, size].

        Returns:
            float32 [B], nats.
        """
        return tf.reduce_sum(self.distribution.log_prob(z), -1)

    def kl(self, other):
        """KL(self || other) in closed form, summed over the dimensions.

        Args:
            other: a `Gaussian` of the same size.

        Returns:
            float32 [B], nats.
        """
        return tf.reduce_sum(tfd.kl_divergence(self.distribution, other.distribution), -1)
