"""keras_vae: a Keras 3 model zoo of variational and regularized autoencoders, with export."""

__version__ = "0.1.0"
