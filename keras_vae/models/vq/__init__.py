"""Vector-quantized models: the VQ-VAE, the two-level VQ-VAE-2 and the PixelCNN priors over their discrete codes."""

from keras_vae.models.vq import pixelcnn, quantizer, vq_vae, vq_vae2  # noqa: F401  (registers the classes)
