"""The model families, one folder each (`vae/`, `ae/`, `vq/`, `td/`), over the shared bases
(`base.ZooModel`, `likelihood.ImageModel`, `autoencoder.Autoencoder`).

Importing this package (or a family's package) imports no model module, so a family's
TensorFlow-free modules (its `headline`, read by `list`) load without TensorFlow. A class is
imported when it is first named (`keras_vae.models.VAE`, `from keras_vae.models import VAE`);
`register()` imports every family, and so registers each `@register_model` class
(`keras_vae.core.registration`). A new family is its folder, its classes in `CLASSES` and its
zoo entry.
"""

import importlib

CLASSES = {  # class name -> the module that defines it
    "ZooModel": "keras_vae.models.base",
    "Autoencoder": "keras_vae.models.autoencoder",
    "AE": "keras_vae.models.ae.plain",
    "ContractiveAE": "keras_vae.models.ae.contractive",
    "DenoisingAE": "keras_vae.models.ae.denoising",
    "KSparseAE": "keras_vae.models.ae.sparse",
    "SparseAE": "keras_vae.models.ae.sparse",
    "TDVAE": "keras_vae.models.td.model",
    "VAE": "keras_vae.models.vae.vae",
    "BetaVAE": "keras_vae.models.vae.beta",
    "CVAE": "keras_vae.models.vae.conditional",
    "IWAE": "keras_vae.models.vae.importance_weighted",
    "VQVAE": "keras_vae.models.vq.vq_vae",
    "VQVAE2": "keras_vae.models.vq.vq_vae2",
    "PixelCNN": "keras_vae.models.vq.pixelcnn",
}
__all__ = list(CLASSES)


def exports(package):
    """(`__getattr__`, `__all__`) for `package` (this one or a family's): its classes, each
    imported when first named."""
    names = [name for name, module in CLASSES.items() if module.startswith(f"{package}.")]

    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(CLASSES[name]), name)

    return __getattr__, names


__getattr__, _ = exports(__name__)


def register():
    """Import every family, so each model class is registered with Keras and the zoo."""
    for module in sorted(set(CLASSES.values())):
        importlib.import_module(module)


def family(class_name):
    """The package of the family that defines model class `class_name` ("keras_vae.models.vae"),
    read from `CLASSES` without importing it; None for an unknown class."""
    module = CLASSES.get(class_name)
    return module.rpartition(".")[0] if module else None


def headline_of(class_name, metrics):
    """The headline numbers of a model's metrics.json, as the family states them
    (`<family>.headline.parts`), without TensorFlow.

    Args:
        class_name: the model class ("VAE"), as an entry's config.json names it.
        metrics: the dict of a metrics.json written by `evaluate`.

    Returns:
        A list of str, e.g. ["ELBO -96.5", "IWAE (k = 1000) -91.2"].

    Raises:
        KeyError: an unknown class, or metrics without the numbers its family states.
    """
    package = family(class_name)
    if package is None:
        raise KeyError(f"unknown model class {class_name!r}")
    return importlib.import_module(f"{package}.headline").parts(metrics)
