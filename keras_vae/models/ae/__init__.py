"""Regularized autoencoders: plain, denoising (Vincent et al. 2008), sparse and k-sparse
(Makhzani & Frey 2014) and contractive (Rifai et al. 2011)."""

from keras_vae.models.ae.contractive import ContractiveAE
from keras_vae.models.ae.denoising import DenoisingAE
from keras_vae.models.ae.plain import AE
from keras_vae.models.ae.sparse import KSparseAE, SparseAE

__all__ = ["AE", "ContractiveAE", "DenoisingAE", "KSparseAE", "SparseAE"]
