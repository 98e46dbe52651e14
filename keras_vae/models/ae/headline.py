"""The autoencoders' headline in `list`: their reconstruction errors. TensorFlow-free."""

from keras_vae.models.headline import reconstruction as parts

__all__ = ["parts"]
