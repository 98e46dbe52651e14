"""The zoo catalogue on disk, read without TensorFlow: where it is, its entries, their summaries.

The catalogue is package data, `keras_vae.catalogue.zoo` (in the repository the top-level `zoo/`
folder), so an installed wheel has every entry; KERAS_VAE_ZOO points at another catalogue.
"""

import difflib
import importlib.resources
import json
import os
from pathlib import Path

CONFIG = "config.json"
PRETRAINED = "pretrained"


def closest(name, known, aliases=None):
    """' (did you mean X?)' for the known name that `aliases` maps `name` to, else the nearest
    known name, or ''."""
    alias = (aliases or {}).get(name)
    match = [alias] if alias in known else difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def zoo_dir():
    """The zoo catalogue folder: $KERAS_VAE_ZOO, else the one installed with keras_vae."""
    override = os.environ.get("KERAS_VAE_ZOO")
    if override:
        return Path(override)
    return Path(importlib.resources.files("keras_vae.catalogue.zoo"))


def entry_names():
    return sorted(p.parent.name for p in zoo_dir().glob(f"*/{CONFIG}"))


def read_entry(name):
    """The entry's config.json as stored, or None."""
    path = zoo_dir() / name / CONFIG
    return json.loads(path.read_text()) if path.is_file() else None


def shipped_metrics(name):
    """The metrics.json of the entry's shipped weights, or None."""
    path = zoo_dir() / name / PRETRAINED / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def summary(name):
    """One entry as `list` shows it: read from its files, no model is built."""
    entry = read_entry(name)
    return {
        "name": name,
        "description": entry.get("description", ""),
        "dataset": entry.get("dataset", "mnist"),
        "latent_dim": entry.get("params", {}).get("latent_dim"),
        "parameters": entry.get("parameters"),
        "metrics": shipped_metrics(name),
    }
