"""Vector-quantized models: the VQ-VAE and the PixelCNN prior over its discrete codes."""

from keras_vae.models.vq import pixelcnn, quantizer, vq_vae  # noqa: F401  (registers the classes)
