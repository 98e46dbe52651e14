"""Variational autoencoders: the VAE (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017),
the conditional VAE (Sohn et al. 2015) and the IWAE (Burda et al. 2016)."""

from keras_vae.models.vae.beta import BetaVAE
from keras_vae.models.vae.conditional import CVAE
from keras_vae.models.vae.importance_weighted import IWAE
from keras_vae.models.vae.vae import VAE

__all__ = ["VAE", "BetaVAE", "CVAE", "IWAE"]
