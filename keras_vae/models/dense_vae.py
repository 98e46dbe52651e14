"""`dense_vae`: the VAE of Kingma & Welling (2014) with MLP encoder and decoder."""

from keras_vae.models.architectures import DenseNets
from keras_vae.models.base import VAE
from keras_vae.registry import register_model


@register_model
class DenseVAE(DenseNets, VAE):
    """VAE with a Flatten + Dense encoder and the mirrored Dense decoder."""
