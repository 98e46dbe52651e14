"""Variational autoencoders: the VAE (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017),
the conditional VAE (Sohn et al. 2015), the IWAE (Burda et al. 2016), the VAE with a VampPrior
(Tomczak & Welling 2018), and the disentangling objectives beta-TC-VAE (Chen et al. 2018),
FactorVAE (Kim & Mnih 2018) and DIP-VAE (Kumar et al. 2018)."""

from keras_vae.models.vae.beta import BetaVAE
from keras_vae.models.vae.beta_tc import BetaTCVAE
from keras_vae.models.vae.conditional import CVAE
from keras_vae.models.vae.dip import DIPVAE
from keras_vae.models.vae.factor import FactorVAE
from keras_vae.models.vae.importance_weighted import IWAE
from keras_vae.models.vae.vae import VAE
from keras_vae.models.vae.vamp import VampVAE

__all__ = ["VAE", "BetaVAE", "BetaTCVAE", "CVAE", "DIPVAE", "FactorVAE", "IWAE", "VampVAE"]
