"""Vector-quantized models: the VQ-VAE (van den Oord et al. 2017), the two-level VQ-VAE-2
(Razavi et al. 2019) and the PixelCNN priors over their discrete codes (van den Oord et al. 2016)."""

from keras_vae.models.vq.pixelcnn import PixelCNN
from keras_vae.models.vq.vq_vae import VQVAE
from keras_vae.models.vq.vq_vae2 import VQVAE2

__all__ = ["PixelCNN", "VQVAE", "VQVAE2"]
