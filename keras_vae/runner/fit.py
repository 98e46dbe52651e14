"""Fitting one training stage: Keras's `fit` with the run folder's callbacks and input feed.

Every epoch is checkpointed (`RunRecorder`), a non-finite loss stops training before its epoch
is saved (`NonFiniteGuard`), and the input repeats across epochs when it can (`feed`). The
callers are `keras_vae.runner.train` (the model) and `keras_vae.runner.stages` (learned priors).
"""

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core.errors import UserError
from keras_vae.runner import distribute, runs
from keras_vae.runner.schedules import learning_rate_callbacks


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
            f"a learning rate too high ({self.config.learning_rate:g}), extreme or corrupt data, or "
            f"overflow at precision {self.config.precision}; {kept}"
        )


class StepProgbar(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, which counts a call of steps_per_execution steps as all of them even
    when the epoch ends inside it ('32/22' and a negative ETA): the count stops at the epoch's steps."""

    def on_train_batch_end(self, batch, logs=None):
        if self.target:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


def batches(data, split, config, keys, limit=None, **kwargs):
    """The pipeline that feeds training (the bench times this one): dict batches with only the
    `keys` the model reads (the images alone for most models, which is cheaper)."""
    return data.batches(split, config.batch_size, limit=limit, keys=keys, **kwargs)


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
    """Fit the model up to config.epochs on config.limit examples per split (None:
    all), validating on the validation split (never the test split, which only `evaluate` reads)."""
    data.check_fits(model)
    keys, limit = model.batch_keys, config.limit
    train_batches = batches(data, "train", config, keys, limit, shuffle=True, seed=config.seed + initial_epoch)
    validation = batches(data, "validation", config, keys, limit) if data.validation_fraction else None
    return fit_batches(model, train_batches, validation, config, run_dir, initial_epoch, history, verbose, callbacks)


def fit_batches(model, train_batches, validation, config, folder, initial_epoch, history, verbose="auto",
                callbacks=(), stage="model"):
    """Fit `model` on dict batches up to config.epochs, checkpointing every epoch in `folder`
    (a run folder, or a stage's sub-folder), and save its final model there."""
    folder = Path(folder)
    run_dir = folder if stage == "model" else folder.parent  # what the user resumes
    train_batches, steps = feed(model, train_batches, automatic=config.steps_per_execution is None)
    try:
        model.fit(
            train_batches,
            steps_per_epoch=steps,
            validation_data=validation,
            epochs=config.epochs,
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


def restore(folder, done, config, strategy):
    """(model, history) of a run or stage folder after its `done` checkpointed epochs, with the
    random seed of epoch `done` (so a resumed run draws as an unbroken one would)."""
    keras.utils.set_random_seed(config.seed + done)
    model = distribute.build(lambda: runs.load_model(folder / runs.CHECKPOINT), strategy, config.precision)
    return model, runs.read_json(folder / runs.HISTORY)[:done]
