"""A run's config: a zoo entry with the user's overrides applied and checked, frozen.

`resolve(entry, overrides)` builds a `RunConfig` from the entry's `config.json` and `--set`
(every field overridable by name, type-checked against the entry's value or, for a constructor
argument the entry leaves out, the constructor's default); `RunConfig.__post_init__` validates
every field in one place, so a config that exists is valid. A `RunConfig` is never written after
it is built: what changes (the dataset a fallback chose, the image shape the data decides, the
seed drawn, a resume's `--epochs`) makes a new one (`for_data`, `dataclasses.replace`).
`to_json()` is what a run folder's config.json holds; `from_json()` reads it back, run folders
written before a field existed included.
"""

import copy
import dataclasses
import json
import types
from collections.abc import Mapping

from keras_vae import __version__
from keras_vae.catalogue.entries import closest
from keras_vae.catalogue.registry import constructor_defaults, model_class, read_stored_entry
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.core.registration import constructor_args, plain  # plain: the JSON form of a `frozen` value
from keras_vae.core.renamed import current
from keras_vae.data.datasets import check_crop, check_image_size, check_validation_fraction
from keras_vae.runner.distribute import check_options
from keras_vae.runner.schedules import check_schedule

# Fields of an entry that are not model constructor params, with their defaults.
TRAINING_FIELDS = {
    "dataset": "mnist",
    "epochs": 10,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "learning_rate_schedule": "constant",  # or "cosine" (keras_vae/runner/schedules.py)
    # The validation split: this fraction of the dataset's train split, drawn with this seed (not
    # the run's: every run on a dataset validates on the same examples), is held out of training
    # for the per-epoch val_* logs (keras_vae/data/datasets.py split_off). 0: none.
    "validation_fraction": 0.1,
    "validation_seed": 0,
    # A folder of images (dataset folder:PATH; null for every other source): the centre square of
    # side `crop` is taken first (null: none), then the images are resized to `image_size`, an int
    # S (S x S) or [H, W] (null: their own size, which must then be one for every file). E.g.
    # CelebA's 178x218 img_align_celeba: crop 148, image_size 64 (keras_vae/data/datasets.py
    # from_folder).
    "image_size": None,
    "crop": None,
    # Examples in the training shuffle's buffer. null: for a source read by index (every source
    # but TFDS), the whole split, an exact shuffle of its int64 indices (8 bytes an example); for
    # a TFDS stream, 10,000 encoded records (keras_vae/data/tfds_stream.py SHUFFLE_BUFFER).
    "shuffle_buffer": None,
    # Speed and scale (keras_vae/runner/distribute.py): compute dtype policy, tf.distribute
    # strategy, XLA, and train steps per tf.function call (null: automatic on one device, 1 under
    # a strategy).
    "precision": "float32",
    "strategy": "default",
    "jit_compile": False,
    "steps_per_execution": None,
}
# What a later training stage (a learned prior, `ZooModel.stages`) may set for itself under
# "stages": {"prior": {"epochs": 30, ...}} in an entry, and `--set prior.epochs=30`; whatever it
# leaves out, it takes from the run's own fields.
STAGE_FIELDS = ("epochs", "batch_size", "learning_rate")
# What people often type for a setting: the name `--set` suggests for it.
ALIASES = {
    "lr": "learning_rate",
    "bs": "batch_size",
    "batch": "batch_size",
    "z_dim": "latent_dim",
    "latent": "latent_dim",
    "epoch": "epochs",
}
# Fields of a zoo entry's config.json for `list` and the tests, not settings.
CATALOGUE_FIELDS = ("parameters", "test_overrides")
# What a run folder written before a field existed did: every image, and no validation split.
BEFORE_FIELDS = {"limit": None, "validation_fraction": 0.0}
# The run folder format this code writes and the newest it reads; config.json records it with
# the version of keras_vae that wrote it ("run_format", "written_by"; folders before: format 1).
RUN_FORMAT = 2


def frozen(value):
    """`value` with every list a tuple and every dict a read-only mapping."""
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: frozen(v) for k, v in value.items()})
    return value


@dataclasses.dataclass(frozen=True)
class StageTraining:
    """How a later training stage (a learned prior) trains: its own epochs, batch and rate."""

    epochs: int
    batch_size: int
    learning_rate: float


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run trains with: the model, the data, the training and its later stages.

    Attributes:
        entry: the zoo entry name (None in run folders written before it was recorded).
        class_name: the registered model class (`"class"` in config.json).
        params: the model's constructor arguments, read-only (lists become tuples).
        dataset: the dataset name (`keras_vae.data`); after `for_data`, the one actually used.
        epochs, batch_size, learning_rate, learning_rate_schedule: the model's training; the
            batch size is the global batch (split across replicas).
        validation_fraction, validation_seed: the validation split held out of "train".
        image_size, crop: a folder dataset's image size ((height, width) or None: the files' own)
            and centre square crop (None: none), `keras_vae.data.datasets.from_folder`.
        shuffle_buffer: examples in the training shuffle's buffer (None: see TRAINING_FIELDS).
        precision, strategy, jit_compile, steps_per_execution: speed and scale
            (`keras_vae.runner.distribute`).
        stages: {stage name: StageTraining} for each later stage the entry trains.
        description: what the run is (the entry's description, with the settings it changes).
        seed: the run's random seed (None until the run draws or is given one).
        limit: the first N examples of each split (None: every example).

    Raises:
        ConfigError (a UserError) on construction, for any field out of range.
    """

    class_name: str
    params: Mapping
    entry: str | None = None
    dataset: str = TRAINING_FIELDS["dataset"]
    epochs: int = TRAINING_FIELDS["epochs"]
    batch_size: int = TRAINING_FIELDS["batch_size"]
    learning_rate: float = TRAINING_FIELDS["learning_rate"]
    learning_rate_schedule: str = TRAINING_FIELDS["learning_rate_schedule"]
    validation_fraction: float = TRAINING_FIELDS["validation_fraction"]
    validation_seed: int = TRAINING_FIELDS["validation_seed"]
    image_size: tuple | int | None = TRAINING_FIELDS["image_size"]
    crop: int | None = TRAINING_FIELDS["crop"]
    shuffle_buffer: int | None = TRAINING_FIELDS["shuffle_buffer"]
    precision: str = TRAINING_FIELDS["precision"]
    strategy: str = TRAINING_FIELDS["strategy"]
    jit_compile: bool = TRAINING_FIELDS["jit_compile"]
    steps_per_execution: int | None = TRAINING_FIELDS["steps_per_execution"]
    stages: Mapping = dataclasses.field(default_factory=dict)
    description: str = ""
    seed: int | None = None
    limit: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "params", frozen(self.params))
        object.__setattr__(self, "image_size", frozen(self.image_size))
        stages = {name: s if isinstance(s, StageTraining) else StageTraining(**s) for name, s in self.stages.items()}
        object.__setattr__(self, "stages", types.MappingProxyType(stages))
        check_training(self)

    # -- the stages ---------------------------------------------------------------------------
    def stage(self, name):
        """The config a training stage trains with: this one for "model", else this one with the
        stage's own epochs, batch size and learning rate."""
        if name == "model":
            return self
        return dataclasses.replace(self, **dataclasses.asdict(self.stages[name]))

    def with_epochs(self, epochs, stage="model"):
        """This config with `epochs` total epochs for `stage` (what `resume --epochs N` trains)."""
        if stage == "model":
            return dataclasses.replace(self, epochs=epochs)
        stages = {**self.stages, stage: dataclasses.replace(self.stages[stage], epochs=epochs)}
        return dataclasses.replace(self, stages=stages)

    def for_data(self, dataset, params_of_data):
        """This config on the data actually loaded: `dataset` is its name (a fallback may have
        replaced the one asked for), and the constructor arguments that the data decides
        (image_shape, num_classes) and the config leaves null come from `params_of_data()`
        (called only when one is missing).

        Raises:
            UserError: a conditional model on a dataset without labels.
        """
        takes = constructor_args(model_class(self.class_name))
        missing = [key for key in ("image_shape", "num_classes") if key in takes and self.params.get(key) is None]
        params = dict(self.params)
        if missing:
            known = params_of_data()
            params.update({key: known[key] for key in missing})
        if "num_classes" in missing and params["num_classes"] is None:
            raise UserError(f"dataset {dataset} has no labels, and {self.class_name} is conditioned on them")
        return dataclasses.replace(self, dataset=dataset, params=params)

    # -- config.json --------------------------------------------------------------------------
    def to_json(self):
        """The plain-JSON dict a run folder's config.json holds (the same keys as ever)."""
        fields = {key: plain(getattr(self, key)) for key in TRAINING_FIELDS}
        return {
            **fields,
            "description": self.description,
            "class": self.class_name,
            "params": plain(self.params),
            "stages": {name: dataclasses.asdict(s) for name, s in self.stages.items()},
            "entry": self.entry,
            "limit": self.limit,
            "seed": self.seed,
            "run_format": RUN_FORMAT,
            "written_by": f"keras_vae {__version__}",
        }

    @classmethod
    def from_json(cls, stored):
        """The config of a run folder's config.json, written by any version of keras_vae.

        A class renamed since (`keras_vae.core.renamed`) reads as the class replacing it.

        Raises:
            UserError: a config.json that is not a run config (no "class", unknown or bad fields),
                or one of a newer run format than this code reads (naming the version that wrote it).
        """
        if not isinstance(stored, dict) or "class" not in stored:
            raise UserError('config.json is not a keras_vae run config (no "class")')
        stored = dict(stored)
        run_format, written_by = stored.pop("run_format", 1), stored.pop("written_by", "keras_vae before 0.1.0")
        if not isinstance(run_format, int) or run_format > RUN_FORMAT:
            raise UserError(
                f"this run folder is format {run_format!r}, written by {written_by}; this keras_vae "
                f"{__version__} reads formats up to {RUN_FORMAT}: upgrade keras_vae to read it"
            )
        stored["class"], stored["params"] = current(stored["class"], stored.get("params", {}))
        stored = {**BEFORE_FIELDS, **stored}  # older runs lack newer fields
        for catalogue_only in CATALOGUE_FIELDS:  # an entry's own config.json reads as its run's config too
            stored.pop(catalogue_only, None)
        known = {field.name for field in dataclasses.fields(cls)}
        fields = {("class_name" if key == "class" else key): value for key, value in stored.items()}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise UserError(f"config.json has fields this keras_vae does not know: {', '.join(unknown)}")
        return cls(**fields)


def check_training(config):
    """Every training field of `config` (a RunConfig) in range, with one ConfigError line if not."""
    for prefix, fields in [("", config), *((f"{stage}.", s) for stage, s in config.stages.items())]:
        for key in ("epochs", "batch_size"):
            value = getattr(fields, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{prefix}{key} must be an integer >= 1, got {value!r}")
        rate = fields.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < float("inf"):
            raise ConfigError(f"{prefix}learning_rate must be finite and > 0, got {rate!r}")
    check_schedule(config.learning_rate_schedule)
    check_validation_fraction(config.validation_fraction)
    check_image_size(config.image_size)
    check_crop(config.crop)
    if config.shuffle_buffer is not None and (
        not isinstance(config.shuffle_buffer, int)
        or isinstance(config.shuffle_buffer, bool)
        or config.shuffle_buffer < 1
    ):
        raise ConfigError(f"shuffle_buffer must be an integer >= 1 (null: the default), got {config.shuffle_buffer!r}")
    check_options(config)
    check_limit(config.limit)


def check_limit(limit):
    """`limit` if it is None (every example) or an integer >= 1, else one UserError line."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise UserError(f"limit must be an integer >= 1 (or None: every image), got {limit!r}")
    return limit


def load_entry(name):
    """The entry's config.json as stored, with the training fields filled in (a plain dict)."""
    stored = read_stored_entry(name)
    entry = {**TRAINING_FIELDS, **stored}
    entry["entry"] = name
    entry["stages"] = {
        stage: {key: fields.get(key, entry[key]) for key in STAGE_FIELDS}
        for stage, fields in stored.get("stages", {}).items()
    }
    return entry


def settable_fields(entry):
    """Every key `--set` accepts for the entry (a `load_entry` dict), with the value that types it."""
    fields = {k: entry[k] for k in TRAINING_FIELDS}
    fields.update(constructor_defaults(entry["class"]))
    fields.update(entry.get("params", {}))
    fields.update(
        {f"{stage}.{key}": value for stage, values in entry["stages"].items() for key, value in values.items()}
    )
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
    """The entry `name` with `overrides` applied and checked, as a frozen RunConfig.

    Args:
        name: a zoo entry name.
        overrides: {setting: value}; string values (from the CLI's `--set`) are parsed as JSON
            first, else kept as strings. Keys: training fields, constructor arguments, and
            `STAGE.field` for a later stage's epochs, batch_size or learning_rate.

    Returns:
        RunConfig, with the entry's description, no seed and no limit.

    Raises:
        UserError: an unknown entry or setting (with the closest name), a value of the wrong
            type, or (ConfigError) one out of range.
    """
    entry = load_entry(name)
    entry["params"] = copy.deepcopy(entry.get("params", {}))
    fields = settable_fields(entry)
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise UserError(
                f"unknown setting {key!r} for {name}{closest(key, list(fields), ALIASES)}; "
                f"settable: {', '.join(sorted(fields))}"
            )
        raw = value if isinstance(value, str) else None
        value = _check_type(key, parse_value(value) if raw is not None else value, fields[key], raw)
        if key in TRAINING_FIELDS:
            entry[key] = value
        elif "." in key:
            stage, field = key.split(".")
            entry["stages"][stage][field] = value
        else:
            entry["params"][key] = value
    training = {key: entry[key] for key in TRAINING_FIELDS}
    return RunConfig(
        class_name=entry["class"],
        params=entry["params"],
        entry=name,
        stages=entry["stages"],
        description=entry.get("description", ""),
        **training,
    )
