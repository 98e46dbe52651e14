"""Variational autoencoders: the VAE (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017),
the conditional VAE (Sohn et al. 2015) and the IWAE (Burda et al. 2016)."""

from keras_vae.models import exports

__getattr__, __all__ = exports(__name__)  # the classes, imported when first named
