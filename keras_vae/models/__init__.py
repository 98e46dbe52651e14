"""The model families. Importing this package imports every module in it, which registers each
`@register_model` class with `keras_vae.registry`, and exposes those classes here
(`keras_vae.models.VAE`): a new family is one new module (or sub-package), nothing else."""

import importlib
import pkgutil

from keras_vae.models.autoencoder import Autoencoder
from keras_vae.models.base import ZooModel
from keras_vae.registry import MODEL_CLASSES

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

globals().update(MODEL_CLASSES)
__all__ = ["ZooModel", "Autoencoder", *sorted(MODEL_CLASSES)]
