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

from keras_vae.data import datasets
from keras_vae.runner import distribute
from keras_vae.runner import builder
from keras_vae.catalogue import registry
from keras_vae.runner import config as run_config
from keras_vae.runner import runs
from keras_vae.core.errors import UserError
from keras_vae.runner.schedules import learning_rate_callbacks

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

    def __init__(self, run_dir, config, stage="model"):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.config = config
        self.stage = stage
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
        stage = "" if self.stage == "model" else f" --stage {self.stage}"
        kept = (f"the checkpoint of epoch {done} is kept (python -m keras_vae.zoo train --resume {self.run_dir}{stage})"
                if done else "no epoch finished, so there is no checkpoint")
        what = "" if self.stage == "model" else f" of the {self.stage}"
        raise UserError(
            f"training stopped: {name}{what} is {float(value)} in epoch {self._epoch + 1}, {where}; likely causes: "
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
    run_config.fill_from_data(config, lambda: datasets.model_params(data))
    return data


def batches(data, split, config, keys, limit=None, **kwargs):
    """The pipeline that feeds training (the bench times this one): dict batches with only the
    `keys` the model reads (the images alone for most models, which is cheaper)."""
    return data.batches(split, config["batch_size"], limit=limit, keys=keys, **kwargs)


def feed(model, dataset, automatic=False):
    """What fit gets for `dataset`: (dataset, steps_per_epoch).

    When it can, the dataset repeats and is prefetched across passes, and fit keeps one iterator
    for the whole run: restarting it every epoch refills the shuffle buffer before the first
    batch, 10-30% of an epoch of a small model on a 2-core CPU (python -m keras_vae.bench). Each
    pass is still a fresh shuffle. Keras runs steps_per_execution steps per call whatever
    steps_per_epoch says, so that only keeps epochs exact when it divides the epoch; otherwise
    each epoch runs the dataset dry. With `automatic` (the config leaves steps_per_execution
    unset), the steps per call are chosen to divide the epoch (`steps_per_call`).
    """
    steps = int(dataset.cardinality())
    if automatic:
        model.steps_per_execution = steps_per_call(steps, model.steps_per_execution)
    if steps % model.steps_per_execution:
        return dataset, None
    return dataset.repeat().prefetch(tf.data.AUTOTUNE), steps


def steps_per_call(steps, most):
    """Steps per call for an epoch of `steps` steps when the config leaves it to us: the largest
    divisor of `steps` from most / 2 to `most`; else, for an epoch of at most 4 x `most` steps,
    the whole epoch in one call (3,600 digits at batch 32: 113 steps, a prime); else `most`,
    and the epoch restarts its input, a small cost in a long epoch."""
    divisors = [d for d in range(most, (most + 1) // 2 - 1, -1) if steps % d == 0]
    if divisors:
        return divisors[0]
    return steps if steps <= 4 * most else most


def fit(model, data, config, run_dir, initial_epoch, history, verbose="auto", callbacks=()):
    """Fit the model stage up to config["epochs"] on config["limit"] examples per split (None:
    all), validating on the validation split (never the test split, which only `evaluate` reads)."""
    data.check_fits(model)
    keys, limit = model.batch_keys, config.get("limit")
    train_batches = batches(data, "train", config, keys, limit, shuffle=True, seed=config["seed"] + initial_epoch)
    validation = batches(data, "validation", config, keys, limit) if data.validation_fraction else None
    return fit_batches(model, train_batches, validation, config, run_dir, initial_epoch, history, verbose, callbacks)


def fit_batches(model, train_batches, validation, config, folder, initial_epoch, history, verbose="auto",
                callbacks=(), stage="model"):
    """Fit `model` on dict batches up to config["epochs"], checkpointing every epoch in `folder`
    (a run folder, or a stage's sub-folder), and save its final model there."""
    folder = Path(folder)
    run_dir = folder if stage == "model" else folder.parent  # what the user resumes
    train_batches, steps = feed(model, train_batches, automatic=config.get("steps_per_execution") is None)
    try:
        model.fit(
            train_batches,
            steps_per_epoch=steps,
            validation_data=validation,
            epochs=config["epochs"],
            initial_epoch=initial_epoch,
            callbacks=[
                *callbacks,
                *learning_rate_callbacks(config),
                StepProgbar(),
                # before RunRecorder: a NaN epoch is never checkpointed
                NonFiniteGuard(run_dir, config, stage),
                RunRecorder(folder, history),
                keras.callbacks.TensorBoard(log_dir=str(folder / runs.LOGS), write_graph=False),
            ],
            verbose=verbose,
            shuffle=False,  # the dataset shuffles itself
        )
    except KeyboardInterrupt:
        raise Interrupted(run_dir) from None
    runs.save_model(model, folder / runs.MODEL, include_optimizer=False)
    return model


# -- later stages: artifacts after "model" (a VQ-VAE's PixelCNN prior), trained on its outputs ---
def stage_examples(model, stage, data, split, config):
    """{key: array [N, ...]}: the inputs of `stage` for every example of `split`, computed once
    by the frozen model (cheaper than encoding every epoch)."""
    parts = {}
    for batch in batches(data, split, config, model.batch_keys, config.get("limit")):
        for key, value in model.stage_batch(stage, batch).items():
            parts.setdefault(key, []).append(np.asarray(value))
    return {key: np.concatenate(values) for key, values in parts.items()}


def fit_stage(model, stage, data, config, run_dir, strategy, verbose="auto", callbacks=()):
    """Train (or continue) artifact `stage` of `model` in run_dir/<stage>/ and attach it."""
    settings = run_config.stage_config(config, stage)
    folder = runs.stage_dir(run_dir, stage)
    done = runs.epochs_done(folder)
    if done >= settings["epochs"]:
        raise UserError(f"{folder} already has {done} of {settings['epochs']} epochs; pass a larger --epochs")
    folder.mkdir(exist_ok=True)
    if done:
        stage_model, history = restore(folder, done, config, strategy)
    else:
        keras.utils.set_random_seed(config["seed"])
        stage_model = distribute.build(lambda: builder.compile_model(model.stage_model(stage), settings),
                                       strategy, config["precision"])
        history = []
    log.info("training the %s of %s (%d parameters) on the frozen model's outputs into %s",
             stage, config["entry"], stage_model.count_params(), folder)
    train_set = stage_examples(model, stage, data, "train", settings)
    validation = (tf.data.Dataset.from_tensor_slices(stage_examples(model, stage, data, "validation", settings))
                  .batch(settings["batch_size"]) if data.validation_fraction else None)
    train_batches = (tf.data.Dataset.from_tensor_slices(train_set)
                     .shuffle(len(next(iter(train_set.values()))), seed=config["seed"] + done)
                     .batch(settings["batch_size"]))
    fit_batches(stage_model, train_batches, validation, settings, folder, done,
                history, verbose, callbacks, stage)
    model.attach(stage, stage_model)
    return stage_model


def check_stage(cls, stage):
    """`stage`, if model class `cls` declares it (None: every stage)."""
    if stage is not None and stage not in cls.artifacts:
        raise UserError(f"{cls.__name__} has no stage {stage!r}; its stages: {', '.join(cls.artifacts)}")
    return stage


def fit_later_stages(model, data, config, run_dir, strategy, verbose, callbacks, first=1, alone=False):
    """Train the stages from artifacts[first] on (only that one if `alone`), attaching each."""
    for stage in model.artifacts[first : first + 1 if alone else None]:
        fit_stage(model, stage, data, config, run_dir, strategy, verbose, callbacks)


def check_limit(limit):
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise UserError(f"limit must be an integer >= 1 (or None: every image), got {limit!r}")
    return limit


def run_description(entry, config):
    """The entry's description, followed by the model settings this run changes, so it never
    contradicts the run (e.g. 'Bernoulli likelihood' under --set likelihood=gaussian)."""
    stored = run_config.load_entry(entry)
    params = stored.get("params", {})
    changed = [
        f"{key}={json.dumps(value)} (entry: {json.dumps(params[key]) if key in params else 'default'})"
        for key, value in config["params"].items()
        if key != "image_shape" and (key not in params or params[key] != value)
    ]
    text = stored.get("description", entry)
    return f"{text}; this run changes {', '.join(changed)}" if changed else text


def train(entry, overrides=None, run_dir=None, seed=None, overwrite=False, verbose="auto", limit=None, callbacks=(),
          stage=None):
    """Train zoo entry `entry` with `overrides`; returns (model, run_dir).

    Every stage the model declares (`artifacts`: the model, then e.g. its prior) is trained in
    turn; `stage="model"` trains the model alone (`resume` trains the rest later).
    `limit` keeps the first N examples of each split (quick checks and tests); it is recorded in
    config.json with every other setting, so `resume` trains on the same images.
    """
    config = run_config.resolve(entry, overrides)
    if check_stage(registry.model_class(config["class"]), stage) not in (None, "model"):
        raise UserError(f"a new run starts with its model: --stage {stage} continues a run (--resume RUN_DIR)")
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
    model = distribute.build(lambda: builder.build_from_config(config), strategy, config["precision"])
    # Only now, with every input checked, is anything on disk touched.
    prepare_run_dir(run_dir, overwrite)
    runs.write_json(run_dir / runs.CONFIG, config)
    log.info("training %s (%s, %d parameters) on %s into %s", entry, config["class"], model.count_params(), data.name, run_dir)
    model = fit(model, data, config, run_dir, 0, [], verbose, callbacks)
    if stage is None:
        fit_later_stages(model, data, config, run_dir, strategy, verbose, callbacks)
    return model, run_dir


# What a run folder written before a field existed did: every image, and no validation split.
BEFORE_FIELDS = {"limit": None, "validation_fraction": 0.0}


def resume(run_dir, epochs=None, verbose="auto", limit=None, callbacks=(), stage=None):
    """Continue a run: every unfinished stage in order from its last checkpoint, or `stage` alone
    (`--stage prior --epochs 60` trains a prior on; a stage not yet started starts).

    `epochs` raises the total epochs of the stage resumed (default: the run's own). Every
    recorded setting is restored; a `limit` other than the recorded one is refused.
    """
    run_dir = runs.refuse_zoo(runs.check_run_dir(run_dir))
    stored = runs.read_config(run_dir)
    config = {**run_config.TRAINING_FIELDS, "stages": {}, **BEFORE_FIELDS, **stored}  # older runs lack newer fields
    if "validation_fraction" not in stored:
        log.warning("%s was trained before validation splits (its val_* logs are on the test split): it resumes "
                    "on its whole train split, as before, without validation logs", run_dir)
    if limit is not None and check_limit(limit) != config["limit"]:
        recorded = "every image" if config["limit"] is None else f"--limit {config['limit']}"
        raise UserError(f"{run_dir} was trained with {recorded}, not --limit {limit}; resume keeps the run's "
                        "own images (omit --limit)")
    cls = registry.model_class(config["class"])
    artifacts = cls.artifacts
    check_stage(cls, stage)
    alone = stage is not None
    if stage is None:  # the first unfinished stage
        unfinished = [s for s in artifacts if runs.epochs_done(runs.stage_dir(run_dir, s)) < run_config.stage_config(config, s)["epochs"]]
        if not unfinished and epochs is None:
            done = runs.epochs_done(run_dir)
            later = (f" (the model's; a later stage trains on with --stage {artifacts[-1]} --epochs N)"
                     if len(artifacts) > 1 else "")
            raise UserError(f"{run_dir} already has {done} of {config['epochs']} epochs; pass a larger --epochs{later}")
        stage = unfinished[0] if unfinished and epochs is None else "model"
    if epochs is not None:
        (config if stage == "model" else config["stages"][stage])["epochs"] = epochs
        run_config.check_training_fields(config)
    strategy = distribute.strategy_for(config)
    data = load_data(config)
    if stage == "model":
        model = resume_model(run_dir, config, strategy, data, artifacts, verbose, callbacks)
        if alone:
            return model, run_dir
        first = 1
    else:
        if not (run_dir / runs.MODEL).is_file():
            raise UserError(f"{run_dir} has no finished {runs.MODEL} yet: resume its model first (--stage model)")
        model = distribute.build(lambda: runs.load_model(run_dir / runs.MODEL), strategy, config["precision"])
        runs.write_json(run_dir / runs.CONFIG, config)
        first = artifacts.index(stage)
    fit_later_stages(model, data, config, run_dir, strategy, verbose, callbacks, first, alone)
    return model, run_dir


def restore(folder, done, config, strategy):
    """(model, history) of a run or stage folder after its `done` checkpointed epochs, with the
    random seed of epoch `done` (so a resumed run draws as an unbroken one would)."""
    keras.utils.set_random_seed(config["seed"] + done)
    model = distribute.build(lambda: runs.load_model(folder / runs.CHECKPOINT), strategy, config["precision"])
    return model, runs.read_json(folder / runs.HISTORY)[:done]


def resume_model(run_dir, config, strategy, data, artifacts, verbose, callbacks):
    if not (run_dir / runs.CHECKPOINT).is_file():
        raise UserError(f"{run_dir} has no {runs.CHECKPOINT} to resume from")
    done = runs.epochs_done(run_dir)
    if done >= config["epochs"]:
        raise UserError(f"{run_dir} already has {done} of {config['epochs']} epochs; pass a larger --epochs")
    stale = [s for s in artifacts[1:] if runs.stage_dir(run_dir, s).exists()]
    if stale:
        raise UserError(f"{run_dir}'s {', '.join(stale)} trained on this model's outputs; training the model on "
                        f"would leave {'them' if len(stale) > 1 else 'it'} stale: train a new run instead")
    model, history = restore(run_dir, done, config, strategy)
    runs.write_json(run_dir / runs.CONFIG, config)
    log.info("resuming %s at epoch %d of %d", run_dir, done, config["epochs"])
    return fit(model, data, config, run_dir, done, history, verbose, callbacks)
