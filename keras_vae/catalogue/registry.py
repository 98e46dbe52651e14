"""The zoo's names: zoo entries (data in `zoo/<entry>/config.json`) and the model classes they name.

An entry's `config.json` names a registered class (`keras_vae.core.registration`), its
constructor params, a dataset and the training defaults; `keras_vae.runner.config` turns an
entry and the user's `--set` overrides into a run's config.
"""

import inspect
import re

from keras_vae.catalogue import constructors
from keras_vae.catalogue.entries import closest, entry_names, read_entry, summary
from keras_vae.core.errors import UserError
from keras_vae.core.registration import MODEL_CLASSES, constructor_args

ENTRY_NAME = re.compile(r"[a-z0-9_]+")


def check_entry_name(name):
    """`name`, if it is a zoo entry name (lowercase letters, digits, _): never a path."""
    if not isinstance(name, str) or not ENTRY_NAME.fullmatch(name):
        raise UserError(
            f"{name!r} is not a zoo entry name: names are lowercase letters, digits and _ "
            f"(a name, not a path; known entries: {', '.join(entry_names())})"
        )
    return name


def read_stored_entry(name):
    """The entry's config.json as stored, less the catalogue-only fields (`parameters`,
    `test_overrides`). A UserError for a name that is not an entry (with the closest one)."""
    stored = read_entry(check_entry_name(name))
    if stored is None:
        known = entry_names()
        raise UserError(f"unknown zoo entry {name!r}{closest(name, known)}; known entries: {', '.join(known)}")
    for catalogue_only in ("parameters", "test_overrides"):  # for `list` and the tests, not settings
        stored.pop(catalogue_only, None)  # (keras_vae.runner.config.CATALOGUE_FIELDS)
    return stored


def model_class(class_name):
    """The registered model class named `class_name` (a UserError, with the closest name, if none)."""
    import keras_vae.models  # noqa: F401  (importing the families registers every class)

    if class_name not in MODEL_CLASSES:
        known = sorted(MODEL_CLASSES)
        raise UserError(f"unknown model class {class_name!r}{closest(class_name, known)}")
    return MODEL_CLASSES[class_name]


def constructor_defaults(class_name):
    """{argument: default} of the model class's constructor arguments that have one: from
    constructors.json for keras_vae's own classes (no TensorFlow), else from the class itself."""
    if class_name in constructors.stored():
        return constructors.stored()[class_name]
    args = constructor_args(model_class(class_name))
    return {key: value for key, value in args.items() if value is not inspect.Parameter.empty}


def list_entries():
    """[(name, one-line description, parameter count)] for every zoo entry, read from its
    config.json (`parameters`, checked against the built model by tests/test_vae.py)."""
    return [(s["name"], s["description"], s["parameters"]) for s in map(summary, entry_names())]
