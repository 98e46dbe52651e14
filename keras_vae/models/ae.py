"""`ae`: the plain deterministic autoencoder, the baseline the regularized autoencoders beat.

The regularized autoencoders share its network, the one of their papers (Vincent et al. 2008,
Ng's sparse autoencoder, Rifai et al. 2011, Makhzani & Frey 2014): the code layer reads the
flattened pixels, one dense layer decodes the code. So `ae` with the same `latent_dim` and code
activation is the same network without the regularizer.
"""

from keras_vae.errors import ConfigError
from keras_vae.layers import dense_decoder, dense_trunk
from keras_vae.models.base import Autoencoder
from keras_vae.registry import register_model

CODE_ACTIVATIONS = ("sigmoid", "linear", "relu", "tanh")


class SingleLayerNets:
    """One dense layer each way: pixels -> code -> pixels."""

    def encoder_trunk(self):
        return dense_trunk(self.image_shape, ())

    def build_decoder(self):
        return dense_decoder(self.latent_dim, (), self.image_shape)


@register_model
class AE(SingleLayerNets, Autoencoder):
    """x -> activation(W x + b) -> decoder; loss = -log p(x | code)."""

    def __init__(self, code_activation="sigmoid", **kwargs):
        if code_activation not in CODE_ACTIVATIONS:
            raise ConfigError(f"code_activation must be one of {CODE_ACTIVATIONS}, got {code_activation!r}")
        self.code_activation = code_activation
        super().__init__(**kwargs)
