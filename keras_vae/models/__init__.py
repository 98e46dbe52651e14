"""Importing this package registers every model class with `keras_vae.registry`."""

from keras_vae.models.base import VAE, Autoencoder
from keras_vae.models.conv_vae import ConvVAE
from keras_vae.models.dense_vae import DenseVAE

__all__ = ["Autoencoder", "VAE", "ConvVAE", "DenseVAE"]
