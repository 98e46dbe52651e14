"""`ae`: the plain deterministic autoencoder, the baseline the regularized autoencoders beat.

The regularized autoencoders share its network, the one of their papers (Vincent et al. 2008,
Ng's sparse autoencoder, Rifai et al. 2011, Makhzani & Frey 2014): `architecture="dense"` with
no hidden layers, so the code layer reads the flattened pixels and one dense layer decodes the
code. So `ae` with the same `latent_dim` and code activation is the same network without the
regularizer.
"""

from keras_vae.core.errors import ConfigError
from keras_vae.core.registration import register_model
from keras_vae.models.autoencoder import Autoencoder

CODE_ACTIVATIONS = ("sigmoid", "linear", "relu", "tanh")


@register_model
class AE(Autoencoder):
    """x -> activation(code layer) -> decoder; loss = -log p(x | code), nats per example.

    Args:
        code_activation: the code layer's activation, one of CODE_ACTIVATIONS.
        architecture: as for `Autoencoder`; "dense" by default (the papers' network).
        hidden_sizes: as for `Autoencoder`; () by default: the code layer reads the pixels.
        **kwargs: `Autoencoder`, `ImageModel` and `ZooModel` arguments.

    Raises:
        ConfigError: an unknown code_activation (or any `Autoencoder` check).
    """

    def __init__(self, code_activation="sigmoid", architecture="dense", hidden_sizes=(), **kwargs):
        super().__init__(architecture=architecture, hidden_sizes=hidden_sizes, **kwargs)
        if code_activation not in CODE_ACTIVATIONS:
            raise ConfigError(f"code_activation must be one of {CODE_ACTIVATIONS}, got {code_activation!r}")
        self.code_activation = code_activation

    def get_config(self):
        # architecture and hidden_sizes only change Autoencoder's defaults: its get_config has them.
        return {**super().get_config(), "code_activation": self.code_activation}
