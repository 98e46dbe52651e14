"""Importing this package registers every model class with `keras_vae.registry`."""

from keras_vae.models.ae import AE
from keras_vae.models.base import VAE, Autoencoder
from keras_vae.models.beta_vae import BetaVAE
from keras_vae.models.contractive_ae import ContractiveAE
from keras_vae.models.conv_vae import ConvVAE
from keras_vae.models.dense_vae import DenseVAE
from keras_vae.models.denoising_ae import DenoisingAE
from keras_vae.models.sparse_ae import KSparseAE, SparseAE

__all__ = [
    "Autoencoder",
    "VAE",
    "ConvVAE",
    "DenseVAE",
    "BetaVAE",
    "AE",
    "DenoisingAE",
    "SparseAE",
    "KSparseAE",
    "ContractiveAE",
]
