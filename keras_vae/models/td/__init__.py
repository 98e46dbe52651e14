"""TD-VAE (Gregor, Papamakarios, Besse, Buesing & Weber, ICLR 2019): a sequence model with a
belief state and jumpy predictions. `layers` builds its networks, `model` is the zoo model."""

from keras_vae.models.td.model import TDVAE

__all__ = ["TDVAE"]
