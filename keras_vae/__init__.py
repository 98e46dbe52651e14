"""keras_vae: a Keras 3 model zoo of variational and regularized autoencoders, with export.

Importing the package is enough for `keras.models.load_model("model.keras")`: the model classes
register with Keras as soon as Keras itself is imported (at once if it already is). The package
does not import TensorFlow by itself, so `python -m keras_vae.zoo --help` stays fast.
"""

import importlib.abc
import importlib.util
import logging
import sys

__version__ = "0.1.0"


def _register_models():
    try:
        import keras_vae.models  # noqa: F401  (importing the families registers every class)
    except ImportError as error:  # a broken install must not break `import keras`
        logging.getLogger(__name__).warning("keras_vae models not registered with Keras: %s", error)


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps the loading of `keras`, `tensorflow` (each imports the other)
    and keras_vae's own modules, and once the outermost of those imports has finished with Keras
    loaded, registers the model classes (so no keras_vae module is half-initialized then) and
    leaves sys.meta_path."""

    def __init__(self):
        self.loading = set()

    @staticmethod
    def watched(name):
        return name in ("keras", "tensorflow") or name.startswith("keras_vae.")

    def find_spec(self, name, path=None, target=None):
        if not self.watched(name) or name in self.loading:
            return None
        self.loading.add(name)  # so the search below skips this finder
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.loading.discard(name)
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader.exec_module = self._wrap(name, spec.loader.exec_module)
        return spec

    def _wrap(self, name, execute):
        def exec_module(module):
            self.loading.add(name)
            try:
                execute(module)
            finally:
                self.loading.discard(name)
            if not self.loading and "keras" in sys.modules and self in sys.meta_path:
                sys.meta_path.remove(self)
                _register_models()

        return exec_module


if "keras" in sys.modules:
    _register_models()
elif not any(type(finder).__name__ == "_RegisterAfterKeras" for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
