"""The model families, one folder each (`vae/`, `ae/`, `vq/`, `td/`), over the shared bases
(`base.ZooModel`, `likelihood.ImageModel`, `autoencoder.Autoencoder`).

Importing this package imports every family, and so registers each `@register_model` class
(`keras_vae.core.registration`). A new family is its folder, imported here, and its zoo entry.
"""

from keras_vae.models.ae import AE, ContractiveAE, DenoisingAE, KSparseAE, SparseAE
from keras_vae.models.autoencoder import Autoencoder
from keras_vae.models.base import ZooModel
from keras_vae.models.td import TDVAE
from keras_vae.models.vae import CVAE, DIPVAE, IWAE, VAE, BetaTCVAE, BetaVAE, FactorVAE, VampVAE
from keras_vae.models.vq import VQVAE, VQVAE2, PixelCNN

__all__ = [
    "ZooModel",
    "Autoencoder",
    "AE",
    "ContractiveAE",
    "DenoisingAE",
    "KSparseAE",
    "SparseAE",
    "TDVAE",
    "VAE",
    "BetaVAE",
    "BetaTCVAE",
    "FactorVAE",
    "DIPVAE",
    "CVAE",
    "IWAE",
    "VampVAE",
    "VQVAE",
    "VQVAE2",
    "PixelCNN",
]
