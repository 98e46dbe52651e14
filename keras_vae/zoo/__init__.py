"""The zoo in Python: `list()`, `build(name, **overrides)`, `train(name, ...)`, `load(name_or_run_dir)`,
`evaluate(name_or_run_dir)`, `export(name_or_run_dir, ...)`.

From the shell: `python -m keras_vae.zoo --help`. The names resolve on first use, so the CLI can
start (and print --help) without importing TensorFlow.
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
__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(importlib.import_module(module), attribute)
