"""`conv_vae`: a VAE with a strided Conv2D encoder and a Conv2DTranspose decoder."""

from keras_vae.models.architectures import ConvNets
from keras_vae.models.base import VAE
from keras_vae.registry import register_model


@register_model
class ConvVAE(ConvNets, VAE):
    """VAE for any HxWxC image whose sides divide by 2 ** len(filters)."""
