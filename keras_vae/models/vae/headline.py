"""The VAEs' headline in `list`: the bounds and the active units. TensorFlow-free."""

from keras_vae.models.headline import bounds as parts

__all__ = ["parts"]
