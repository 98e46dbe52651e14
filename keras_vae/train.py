"""Train a zoo entry into a run folder, or resume one: build, compile, fit, checkpoint."""

import json
import logging
import shutil
import time
from datetime import datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_vae import data as datasets
from keras_vae import distribute, registry, runs
from keras_vae.errors import UserError

log = logging.getLogger(__name__)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; `run_dir` keeps the checkpoint of the last finished epoch."""

    def __init__(self, run_dir):
        super().__init__(str(run_dir))
        self.run_dir = Path(run_dir)


class RunRecorder(keras.callbacks.Callback):
    """After each epoch: checkpoint, history and state, each written atomically, in that order,
    so state.json never names an epoch whose checkpoint is not on disk."""

    def __init__(self, run_dir, history):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.history = history

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        record["seconds"] = round(time.perf_counter() - self._started, 3)
        self.history.append(record)
        runs.save_model(self.model, self.run_dir / runs.CHECKPOINT)
        runs.write_json(self.run_dir / runs.HISTORY, self.history)
        runs.write_json(self.run_dir / runs.STATE, {"epoch": epoch + 1})


class NonFiniteGuard(keras.callbacks.Callback):
    """Stop training at the first non-finite loss, before the epoch's checkpoint is written.

    The epoch's metrics are running means, so one NaN step makes the logged loss NaN from then on;
    with steps_per_execution > 1 the step is known to the group of steps run in one call.
    """

    def __init__(self, run_dir, config):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.config = config
        self._first_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._first_step = batch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, "loss", self._steps(batch))

    def on_epoch_end(self, epoch, logs=None):
        for name in sorted(logs or {}):
            self._check(logs, name, "the end of the epoch (the validation split)" if name.startswith("val_") else "the end of the epoch")

    def _steps(self, last):
        total = self.params.get("steps")
        last = min(last, total - 1) if total else last
        steps = f"step {last + 1}" if last == self._first_step else f"steps {self._first_step + 1}-{last + 1}"
        return f"{steps} of {total}" if total else steps

    def _check(self, logs, name, where):
        value = (logs or {}).get(name)
        if value is None or np.isfinite(float(value)):
            return
        done = self._epoch
        kept = (f"the checkpoint of epoch {done} is kept (python -m keras_vae.zoo train --resume {self.run_dir})"
                if done else "no epoch finished, so there is no checkpoint")
        raise UserError(
            f"training stopped: {name} is {float(value)} in epoch {self._epoch + 1}, {where}; likely causes: "
            f"a learning rate too high ({self.config['learning_rate']:g}), extreme or corrupt data, or "
            f"overflow at precision {self.config['precision']}; {kept}"
        )


class StepProgbar(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, which counts a call of steps_per_execution steps as all of them even
    when the epoch ends inside it ('32/22' and a negative ETA): the count stops at the epoch's steps."""

    def on_train_batch_end(self, batch, logs=None):
        if self.target:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


def default_run_dir(entry, root="runs"):
    return Path(root) / entry / datetime.now().strftime("%Y%m%d-%H%M%S")


def check_run_dir_free(run_dir, overwrite=False):
    """An existing non-empty folder is replaced only with overwrite, and only if it is a run
    folder, so a mistyped --out never empties an unrelated directory."""
    run_dir = runs.refuse_zoo(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir} exists and is not a folder")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise UserError(f"{run_dir} already exists; pass --overwrite to replace it, or --resume it")
        if not (run_dir / runs.CONFIG).is_file():
            raise UserError(f"{run_dir} is not a run folder; refusing to overwrite it")


def prepare_run_dir(run_dir, overwrite=False):
    check_run_dir_free(run_dir, overwrite)
    if run_dir.is_dir():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    return run_dir


def load_data(config):
    """Load the config's dataset, with its validation split held out of "train", and record the
    one actually used. Constructor arguments the data decides (image_shape, num_classes) and the
    config leaves null are filled in from it."""
    data = datasets.load(config["dataset"]).with_validation(config["validation_fraction"], config["validation_seed"])
    config["dataset"] = data.name
    registry.fill_from_data(config, lambda: datasets.model_params(data))
    return data


def batches(data, split, config, keys, limit=None, **kwargs):
    """The pipeline that feeds training (the bench times this one): dict batches with only the
    `keys` the model reads (the images alone for most models, which is cheaper)."""
    return data.batches(split, config["batch_size"], limit=limit, keys=keys, **kwargs)


def feed(model, dataset):
    """What fit gets for `dataset`: (dataset, steps_per_epoch).

    When it can, the dataset repeats and is prefetched across passes, and fit keeps one iterator
    for the whole run: restarting it every epoch refills the shuffle buffer before the first
    batch, 10-20% of an epoch of a small model on a 2-core CPU (python -m keras_vae.bench). Each
    pass is still a fresh shuffle. Keras runs steps_per_execution steps per call whatever
    steps_per_epoch says, so that only keeps epochs exact when it divides the epoch; otherwise
    each epoch runs the dataset dry.
    """
    steps = int(dataset.cardinality())
    if steps % model.steps_per_execution:
        return dataset, None
    return dataset.repeat().prefetch(tf.data.AUTOTUNE), steps


def fit(model, data, config, run_dir, initial_epoch, history, verbose="auto", callbacks=()):
    """Fit up to config["epochs"] on config["limit"] examples per split (None: all), validating
    on the validation split (never the test split, which only `evaluate` reads)."""
    data.check_fits(model)
    keys, limit = model.batch_keys, config.get("limit")
    train_batches, steps = feed(
        model, batches(data, "train", config, keys, limit, shuffle=True, seed=config["seed"] + initial_epoch)
    )
    try:
        model.fit(
            train_batches,
            steps_per_epoch=steps,
            validation_data=batches(data, "validation", config, keys, limit) if data.validation_fraction else None,
            epochs=config["epochs"],
            initial_epoch=initial_epoch,
            callbacks=[
                *callbacks,
                StepProgbar(),
                NonFiniteGuard(run_dir, config),  # before RunRecorder: a NaN epoch is never checkpointed
                RunRecorder(run_dir, history),
                keras.callbacks.TensorBoard(log_dir=str(run_dir / runs.LOGS), write_graph=False),
            ],
            verbose=verbose,
            shuffle=False,  # the dataset shuffles itself
        )
    except KeyboardInterrupt:
        raise Interrupted(run_dir) from None
    runs.save_model(model, run_dir / runs.MODEL, include_optimizer=False)
    return model


def check_limit(limit):
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise UserError(f"limit must be an integer >= 1 (or None: every image), got {limit!r}")
    return limit


def run_description(entry, config):
    """The entry's description, followed by the model settings this run changes, so it never
    contradicts the run (e.g. 'Bernoulli likelihood' under --set likelihood=gaussian)."""
    stored = registry.load_entry(entry)
    params = stored.get("params", {})
    changed = [
        f"{key}={json.dumps(value)} (entry: {json.dumps(params[key]) if key in params else 'default'})"
        for key, value in config["params"].items()
        if key != "image_shape" and (key not in params or params[key] != value)
    ]
    text = stored.get("description", entry)
    return f"{text}; this run changes {', '.join(changed)}" if changed else text


def train(entry, overrides=None, run_dir=None, seed=None, overwrite=False, verbose="auto", limit=None, callbacks=()):
    """Train zoo entry `entry` with `overrides`; returns (model, run_dir).

    `limit` keeps the first N examples of each split (quick checks and tests); it is recorded in
    config.json with every other setting, so `resume` trains on the same images.
    """
    config = registry.resolve(entry, overrides)
    config["limit"] = check_limit(limit)
    config["description"] = run_description(entry, config)
    run_dir = Path(run_dir or default_run_dir(entry))
    check_run_dir_free(run_dir, overwrite)
    if config["strategy"] == "multi_worker" and seed is None:
        raise UserError("strategy multi_worker needs --seed: every worker must shuffle the data alike")
    strategy = distribute.strategy_for(config)  # before any other TF work
    data = load_data(config)
    config["seed"] = int(np.random.SeedSequence().entropy % 2**31) if seed is None else seed
    keras.utils.set_random_seed(config["seed"])
    model = distribute.build(lambda: registry.build_from_config(config), strategy, config["precision"])
    # Only now, with every input checked, is anything on disk touched.
    prepare_run_dir(run_dir, overwrite)
    runs.write_json(run_dir / runs.CONFIG, config)
    log.info("training %s (%s, %d parameters) on %s into %s", entry, config["class"], model.count_params(), data.name, run_dir)
    return fit(model, data, config, run_dir, 0, [], verbose, callbacks), run_dir


# What a run folder written before a field existed did: every image, and no validation split.
BEFORE_FIELDS = {"limit": None, "validation_fraction": 0.0}


def resume(run_dir, epochs=None, verbose="auto", limit=None, callbacks=()):
    """Continue a run from its last checkpoint up to `epochs` total (default: the run's own).

    Every recorded setting is restored; a `limit` other than the recorded one is refused.
    """
    run_dir = runs.refuse_zoo(runs.check_run_dir(run_dir))
    stored = runs.read_config(run_dir)
    config = {**registry.TRAINING_FIELDS, **BEFORE_FIELDS, **stored}  # older runs lack newer fields
    if "validation_fraction" not in stored:
        log.warning("%s was trained before validation splits (its val_* logs are on the test split): it resumes "
                    "on its whole train split, as before, without validation logs", run_dir)
    if limit is not None and check_limit(limit) != config["limit"]:
        recorded = "every image" if config["limit"] is None else f"--limit {config['limit']}"
        raise UserError(f"{run_dir} was trained with {recorded}, not --limit {limit}; resume keeps the run's "
                        "own images (omit --limit)")
    if not (run_dir / runs.CHECKPOINT).is_file():
        raise UserError(f"{run_dir} has no {runs.CHECKPOINT} to resume from")
    done = runs.read_json(run_dir / runs.STATE)["epoch"]
    if epochs is not None:
        config["epochs"] = epochs
        registry.check_training_fields(config)
    if done >= config["epochs"]:
        raise UserError(f"{run_dir} already has {done} of {config['epochs']} epochs; pass a larger --epochs")
    strategy = distribute.strategy_for(config)
    data = load_data(config)
    keras.utils.set_random_seed(config["seed"] + done)
    model = distribute.build(lambda: runs.load_model(run_dir / runs.CHECKPOINT), strategy, config["precision"])
    history = runs.read_json(run_dir / runs.HISTORY)[:done]
    runs.write_json(run_dir / runs.CONFIG, config)
    log.info("resuming %s at epoch %d of %d", run_dir, done, config["epochs"])
    return fit(model, data, config, run_dir, done, history, verbose, callbacks), run_dir
