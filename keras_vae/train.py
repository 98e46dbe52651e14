"""Train a zoo entry into a run folder, or resume one: build, compile, fit, checkpoint."""

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


def default_run_dir(entry, root="runs"):
    return Path(root) / entry / datetime.now().strftime("%Y%m%d-%H%M%S")


def check_run_dir_free(run_dir, overwrite=False):
    """An existing non-empty folder is replaced only with overwrite, and only if it is a run
    folder, so a mistyped --out never empties an unrelated directory."""
    run_dir = Path(run_dir)
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
    """Load the config's dataset and record the one actually used. Constructor arguments the
    data decides (image_shape, num_classes) and the config leaves null are filled in from it."""
    data = datasets.load(config["dataset"])
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


def fit(model, data, config, run_dir, initial_epoch, history, verbose="auto", limit=None):
    data.check_fits(model)
    keys = model.batch_keys
    train_batches, steps = feed(
        model, batches(data, "train", config, keys, limit, shuffle=True, seed=config["seed"] + initial_epoch)
    )
    try:
        model.fit(
            train_batches,
            steps_per_epoch=steps,
            validation_data=batches(data, "test", config, keys, limit),
            epochs=config["epochs"],
            initial_epoch=initial_epoch,
            callbacks=[
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


def train(entry, overrides=None, run_dir=None, seed=None, overwrite=False, verbose="auto", limit=None):
    """Train zoo entry `entry` with `overrides`; returns (model, run_dir).

    `limit` keeps the first N examples of each split (quick checks and tests).
    """
    config = registry.resolve(entry, overrides)
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
    return fit(model, data, config, run_dir, 0, [], verbose, limit), run_dir


def resume(run_dir, epochs=None, verbose="auto", limit=None):
    """Continue a run from its last checkpoint up to `epochs` total (default: the run's own)."""
    run_dir = runs.check_run_dir(run_dir)
    config = {**registry.TRAINING_FIELDS, **runs.read_config(run_dir)}  # older runs lack newer fields
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
    return fit(model, data, config, run_dir, done, history, verbose, limit), run_dir
