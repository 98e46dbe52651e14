"""Regularized autoencoders: plain, denoising (Vincent et al. 2008), sparse and k-sparse
(Makhzani & Frey 2014) and contractive (Rifai et al. 2011)."""

from keras_vae.models import exports

__getattr__, __all__ = exports(__name__)  # the classes, imported when first named
