"""Vector-quantized models: the VQ-VAE (van den Oord et al. 2017), the two-level VQ-VAE-2
(Razavi et al. 2019) and the PixelCNN priors over their discrete codes (van den Oord et al. 2016)."""

from keras_vae.models import exports

__getattr__, __all__ = exports(__name__)  # the classes, imported when first named
