"""TD-VAE (Gregor, Papamakarios, Besse, Buesing & Weber, ICLR 2019): a sequence model with a
belief state and jumpy predictions. `layers` builds its networks, `model` is the zoo model."""

from keras_vae.models import exports

__getattr__, __all__ = exports(__name__)  # the classes, imported when first named
