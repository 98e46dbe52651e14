"""The zoo in Python: `list()`, `build(name, **overrides)`, `train(name, ...)`, `load(name_or_run_dir)`,
`evaluate(name_or_run_dir)`, `export(name_or_run_dir, ...)`.

From the shell: `python -m keras_vae.zoo --help`. The names resolve on first use, so the CLI can
start (and print --help) without importing TensorFlow, and `list()` never imports it. The others
import it on first use as the CLI does, without its native start-up lines
(`keras_vae.core.quiet.import_tensorflow`: TF_CPP_MIN_LOG_LEVEL=3 unless already set).
"""

import importlib

_API = {
    "build": ("keras_vae.runner.builder", "build"),
    "list": ("keras_vae.catalogue.registry", "list_entries"),
    "load": ("keras_vae.runner.loading", "load"),
    "train": ("keras_vae.runner.train", "train"),
    "resume": ("keras_vae.runner.train", "resume"),
    "evaluate": ("keras_vae.runner.evaluate", "evaluate_run"),
    "export": ("keras_vae.export", "export_run"),
}
CATALOGUE_ONLY = {"list"}  # read from the catalogue's files: no TensorFlow
__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _API[name]
    if name not in CATALOGUE_ONLY:
        from keras_vae.core.quiet import import_tensorflow

        import_tensorflow()
    return getattr(importlib.import_module(module), attribute)
