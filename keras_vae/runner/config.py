"""A run's config: a zoo entry with the user's overrides applied and checked.

Every field is overridable by name (`--set latent_dim=2`), type-checked against the entry's value
or, for a constructor argument the entry leaves out, the constructor's default.
"""

import copy
import inspect
import json

from keras_vae.catalogue.entries import closest
from keras_vae.catalogue.registry import model_class, read_stored_entry
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.core.registration import constructor_args
from keras_vae.data.datasets import check_validation_fraction
from keras_vae.runner.distribute import check_options
from keras_vae.runner.schedules import check_schedule

# Fields of an entry that are not model constructor params.
TRAINING_FIELDS = {
    "dataset": "mnist",
    "epochs": 10,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "learning_rate_schedule": "constant",  # or "cosine" (keras_vae/schedules.py)
    # The validation split: this fraction of the dataset's train split, drawn with this seed (not
    # the run's: every run on a dataset validates on the same examples), is held out of training
    # for the per-epoch val_* logs (keras_vae/data.py split_off). 0: none.
    "validation_fraction": 0.1,
    "validation_seed": 0,
    # Speed and scale (keras_vae/distribute.py): compute dtype policy, tf.distribute strategy,
    # XLA, and train steps per tf.function call (null: 32 on one device, 1 under a strategy).
    "precision": "float32",
    "strategy": "default",
    "jit_compile": False,
    "steps_per_execution": None,
}
# What a later training stage (a learned prior, `ZooModel.artifacts`) may set for itself under
# "stages": {"prior": {"epochs": 30, ...}} in an entry, and `--set prior.epochs=30`; whatever it
# leaves out, it takes from the run's own fields.
STAGE_FIELDS = ("epochs", "batch_size", "learning_rate")


def load_entry(name):
    """The entry's config as stored, with the training fields filled in."""
    stored = read_stored_entry(name)
    entry = {**TRAINING_FIELDS, **stored}
    entry["entry"] = name
    entry["stages"] = {stage: {key: fields.get(key, entry[key]) for key in STAGE_FIELDS}
                       for stage, fields in stored.get("stages", {}).items()}
    return entry


def settable_fields(config):
    """Every key `--set` accepts for this resolved config, with the value that types it."""
    cls = model_class(config["class"])
    fields = {k: config[k] for k in TRAINING_FIELDS}
    fields.update({k: v for k, v in constructor_args(cls).items() if v is not inspect.Parameter.empty})
    fields.update(config["params"])
    fields.update({f"{stage}.{key}": value for stage, values in config["stages"].items() for key, value in values.items()})
    return fields


def parse_value(text):
    """A `--set` value: JSON when it parses (numbers, lists, true/null), else the raw string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _check_type(key, value, reference, raw):
    if reference is None or value is None:
        return value
    if isinstance(reference, bool):
        ok = isinstance(value, bool)
    elif isinstance(reference, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(reference, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(reference, str):
        value = raw if raw is not None else value
        ok = isinstance(value, str)
    elif isinstance(reference, (list, tuple)):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(reference))
    if not ok:
        raise UserError(
            f"{key}={raw if raw is not None else value!r} has the wrong type: "
            f"expected {type(reference).__name__} like {json.dumps(reference)}"
        )
    return value


def resolve(name, overrides=None):
    """The entry `name` with overrides applied and checked: the config a run folder records.

    `overrides` maps keys to values; string values (from the CLI) are parsed first.
    """
    config = load_entry(name)
    config["params"] = copy.deepcopy(config.get("params", {}))
    fields = settable_fields(config)
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise UserError(
                f"unknown setting {key!r} for {name}{closest(key, list(fields))}; "
                f"settable: {', '.join(sorted(fields))}"
            )
        raw = value if isinstance(value, str) else None
        value = _check_type(key, parse_value(value) if raw is not None else value, fields[key], raw)
        if key in TRAINING_FIELDS:
            config[key] = value
        elif "." in key:
            stage, field = key.split(".")
            config["stages"][stage][field] = value
        else:
            config["params"][key] = value
    check_training_fields(config)
    return config


def stage_config(config, stage):
    """The training settings of `stage` (an artifact of the model): the run's, with the stage's
    own STAGE_FIELDS."""
    return config if stage == "model" else {**config, **config.get("stages", {}).get(stage, {})}


def check_training_fields(config):
    for prefix, fields in [("", config), *((f"{stage}.", v) for stage, v in config.get("stages", {}).items())]:
        for key in ("epochs", "batch_size"):
            if not isinstance(fields[key], int) or isinstance(fields[key], bool) or fields[key] < 1:
                raise ConfigError(f"{prefix}{key} must be an integer >= 1, got {fields[key]!r}")
        if not 0 < fields["learning_rate"] < float("inf"):
            raise ConfigError(f"{prefix}learning_rate must be finite and > 0, got {fields['learning_rate']!r}")
    check_schedule(config.get("learning_rate_schedule", "constant"))
    check_validation_fraction(config.get("validation_fraction", 0.0))
    check_options({**TRAINING_FIELDS, **config})


def fill_from_data(config, params_of_data):
    """Fill the constructor arguments that the data decides (image_shape, num_classes) and the
    config leaves null; `params_of_data()` gives them (called only when one is missing)."""
    takes = constructor_args(model_class(config["class"]))
    missing = [key for key in ("image_shape", "num_classes") if key in takes and config["params"].get(key) is None]
    if missing:
        known = params_of_data()
        config["params"].update({key: known[key] for key in missing})
    if "num_classes" in missing and config["params"]["num_classes"] is None:
        raise UserError(f"dataset {config['dataset']} has no labels, and {config['class']} is conditioned on them")
    return config


