"""Fitting one training stage: Keras's `fit` with the run folder's callbacks and input feed.

Every epoch is checkpointed (`RunRecorder`), a non-finite loss stops training before its epoch
is saved (`NonFiniteGuard`), and so does a diverged one (`DivergenceGuard`), and the input
repeats across epochs when it can (`feed`). The
callers are `keras_vae.runner.train` (the model) and `keras_vae.runner.stages` (learned priors).
"""

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_vae.core.errors import UserError
from keras_vae.runner import distribute, runs
from keras_vae.runner.schedules import learning_rate_at, learning_rate_callbacks


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; `run_dir` keeps the checkpoint of the last finished epoch.

    Args:
        run_dir: the run folder to resume (`python -m keras_vae.zoo train --resume RUN_DIR`).
    """

    def __init__(self, run_dir):
        super().__init__(str(run_dir))
        self.run_dir = Path(run_dir)


class RunRecorder(keras.callbacks.Callback):
    """After each epoch: checkpoint, history and state, each written atomically, in that order,
    so state.json never names an epoch whose checkpoint is not on disk.

    Each epoch's record holds the learning rate it trained at, and state.json the config the
    checkpoint was trained with ("trained_with"), so a resume can tell a setting edited in
    config.json since (`keras_vae.runner.train.check_resumable`).

    Args:
        run_dir: the folder written (a run folder, or a stage's sub-folder).
        history: the list of epoch records so far; each epoch's record is appended to it in place.
        config: the RunConfig trained with, recorded in state.json; or None.
    """

    def __init__(self, run_dir, history, config=None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.history = history
        self.config = config

    def on_epoch_begin(self, epoch, logs=None):
        """Start the epoch's clock.

        Args:
            epoch: the 0-based epoch index.
            logs: Keras's logs (unused).
        """
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Record the epoch and write the checkpoint, history.json and state.json together
        (`keras_vae.runner.runs.write_checkpoint`).

        Args:
            epoch: the 0-based epoch index; recorded 1-based as "epoch".
            logs: Keras's epoch logs {metric: value}, recorded as floats (nats per example for the
                losses), with "seconds": the epoch's wall time in seconds.

        Raises:
            UserError: a non-finite value cannot be written as JSON (`keras_vae.runner.runs.write_json`).
        """
        record = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        record["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        record["seconds"] = round(time.perf_counter() - self._started, 3)
        self.history.append(record)
        state = {"epoch": epoch + 1}
        if self.config is not None:
            state["trained_with"] = self.config.to_json()
        try:
            runs.write_checkpoint(self.run_dir, self.model, self.history, state)
        except runs.WriteError as error:  # a full disk: say where the run can go on from
            done = runs.read_json(self.run_dir / runs.STATE)["epoch"] if (self.run_dir / runs.STATE).is_file() else 0
            raise UserError(
                f"training stopped after epoch {epoch + 1}: cannot write {error.path.name} in {self.run_dir} "
                f"({error.reason}); free space (or fix permissions), then `python -m keras_vae.zoo train "
                f"--resume {self.run_dir}` continues from epoch {done}"
            ) from None


class NonFiniteGuard(keras.callbacks.Callback):
    """Stop training at the first non-finite loss, before the epoch's checkpoint is written.

    The epoch's metrics are running means, so one NaN step makes the logged loss NaN from then on;
    with steps_per_execution > 1 the step is known to the group of steps run in one call.

    Args:
        run_dir: the run folder the message tells the user to resume.
        config: the RunConfig; learning_rate and precision go into the message.
        stage: "model", or the later stage being trained (e.g. "prior").
    """

    def __init__(self, run_dir, config, stage="model"):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.config = config
        self.stage = stage
        self._first_step = 0

    def on_epoch_begin(self, epoch, logs=None):
        """Remember the 0-based epoch index, for the message.

        Args:
            epoch: the 0-based epoch index.
            logs: Keras's logs (unused).
        """
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        """Remember the first step of this call (of steps_per_execution steps), for the message.

        Args:
            batch: the 0-based step index within the epoch.
            logs: Keras's logs (unused).
        """
        self._first_step = batch

    def on_train_batch_end(self, batch, logs=None):
        """Check the running loss after a call's steps.

        Args:
            batch: the 0-based index of the call's last step within the epoch.
            logs: Keras's logs; "loss" is checked.

        Raises:
            UserError: the loss is NaN or infinite: which steps, likely causes, and what is kept.
        """
        self._check(logs, "loss", self._steps(batch))

    def on_epoch_end(self, epoch, logs=None):
        """Check every logged value at the end of the epoch (val_ ones: the validation split).

        Args:
            epoch: the 0-based epoch index.
            logs: Keras's epoch logs {metric: value}.

        Raises:
            UserError: a value is NaN or infinite.
        """
        for name in sorted(logs or {}):
            self._check(
                logs,
                name,
                "the end of the epoch (the validation split)" if name.startswith("val_") else "the end of the epoch",
            )

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
        kept = (
            f"the checkpoint of epoch {done} is kept (python -m keras_vae.zoo train --resume {self.run_dir}{stage})"
            if done
            else "no epoch finished, so there is no checkpoint"
        )
        what = "" if self.stage == "model" else f" of the {self.stage}"
        raise UserError(
            f"training stopped: {name}{what} is {float(value)} in epoch {self._epoch + 1}, {where}; likely causes: "
            f"a learning rate too high ({self.config.learning_rate:g}), extreme or corrupt data, or "
            f"overflow at precision {self.config.precision}; {kept}"
        )


# A loss this many times (at least 1 nat) above where the stage started has diverged (see DivergenceGuard).
DIVERGENCE_FACTOR = 100


class DivergenceGuard(keras.callbacks.Callback):
    """Stop training when an epoch ends with a loss far above the loss the stage started from,
    before that epoch's checkpoint is written.

    The rule: the epoch's validation loss (its training loss without a validation split) above
    `start + DIVERGENCE_FACTOR * max(|start|, 1)`, where `start` is the loss of the model as this
    fit began (untrained, or as resumed) on one validation batch, in the same units (nats per
    example for the likelihood models). Training that works lowers the loss from its starting
    value, and an untrained model already predicts every pixel near 0.5 (784 x log 2 = 543 nats
    for a Bernoulli digit), so a loss 100 times that is a model that decodes noise: `dense_vae` at
    learning_rate 5 ends its first epoch at 1e10 nats. A learning-rate spike that recovers within
    the epoch (`dense_vae` at 0.05: a training mean of 4e6, validation 212) is not stopped: the
    validation loss is of the model as the epoch ends. Non-finite losses are `NonFiniteGuard`'s.

    Args:
        start: the starting loss (a float), or None to check nothing.
        run_dir: the run folder the message tells the user to resume.
        config: the RunConfig; learning_rate goes into the message.
        stage: "model", or the later stage being trained (e.g. "prior").
    """

    def __init__(self, start, run_dir, config, stage="model"):
        super().__init__()
        self.start, self.run_dir, self.config, self.stage = start, Path(run_dir), config, stage

    @property
    def limit(self):
        """The loss above which an epoch has diverged, or None without a starting loss."""
        if self.start is None or not np.isfinite(self.start):
            return None
        return self.start + DIVERGENCE_FACTOR * max(abs(self.start), 1.0)

    def on_epoch_end(self, epoch, logs=None):
        """Raise if the epoch's loss is above `limit`.

        Args:
            epoch: the 0-based epoch index.
            logs: Keras's epoch logs; "val_loss" (else "loss") is checked.

        Raises:
            UserError: the loss diverged: its value, the rule, what to try and what is kept.
        """
        logs = logs or {}
        name = "val_loss" if "val_loss" in logs else "loss"
        value, limit = logs.get(name), self.limit
        if value is None or limit is None or not np.isfinite(float(value)) or float(value) <= limit:
            return
        stage = "" if self.stage == "model" else f" --stage {self.stage}"
        what = "" if self.stage == "model" else f" of the {self.stage}"
        kept = (
            f"the checkpoint of epoch {epoch} is kept (python -m keras_vae.zoo train --resume {self.run_dir}{stage}, "
            "after lowering learning_rate in its config.json)"
            if epoch
            else "no earlier epoch to keep, so there is no checkpoint"
        )
        raise UserError(
            f"training diverged: {name}{what} is {float(value):.4g} after epoch {epoch + 1}, more than "
            f"{DIVERGENCE_FACTOR}x the starting {self.start:.4g} (limit {limit:.4g}); the learning rate "
            f"{self.config.learning_rate:g} is likely too high: try {self.config.learning_rate / 10:g}; {kept}"
        )


def starting_loss(model, batches):
    """The loss of `model` as it is on the first batch of `batches` (test_step: no update), a
    float, or None when the batches are empty or give no finite "loss"."""
    logs = model.evaluate(batches.take(1), verbose=0, return_dict=True)
    value = logs.get("loss")
    return float(value) if value is not None and np.isfinite(float(value)) else None


class StepProgbar(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, which counts a call of steps_per_execution steps as all of them even
    when the epoch ends inside it ('32/22' and a negative ETA): the count stops at the epoch's steps.

    Args:
        none of its own: built as `keras.callbacks.ProgbarLogger()`.
    """

    def on_train_batch_end(self, batch, logs=None):
        """Show the step, counted no further than the epoch's last.

        Args:
            batch: the 0-based index of the call's last step.
            logs: Keras's logs, passed on.
        """
        if self.target:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


def batches(data, split, config, keys, limit=None, **kwargs):
    """The pipeline that feeds training (the bench times this one): dict batches with only the
    `keys` the model reads (the images alone for most models, which is cheaper).

    Args:
        data: an ImageData or SequenceData (`keras_vae.data`).
        split: "train", "validation" or "test".
        config: the RunConfig; batch_size (the global batch) is read.
        keys: the model's `batch_keys`.
        limit: keep the first N examples, or None for all.
        **kwargs: passed on to `data.batches` (shuffle, seed).

    Returns:
        a `tf.data.Dataset` of dict batches, e.g. {"images": float32 [B, H, W, C] in [0, 1]}.

    Raises:
        UserError: an unknown split, or a key the data lacks.
    """
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

    Args:
        model: the compiled Keras model; its steps_per_execution is read (and set with `automatic`).
        dataset: a finite `tf.data.Dataset` of batches, of known cardinality.
        automatic: choose the model's steps_per_execution for this epoch length.

    Returns:
        (the repeated dataset, steps per epoch: int), or (`dataset` unchanged, None) when the steps
        per call do not divide the epoch.
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
    and the epoch restarts its input, a small cost in a long epoch.

    Args:
        steps: batches per epoch, an int >= 1.
        most: the largest steps per call wanted (SINGLE_DEVICE_STEPS, 32, by default).

    Returns:
        int >= 1: the steps per tf.function call.
    """
    divisors = [d for d in range(most, (most + 1) // 2 - 1, -1) if steps % d == 0]
    if divisors:
        return divisors[0]
    return steps if steps <= 4 * most else most


def fit(model, data, config, run_dir, initial_epoch, history, verbose="auto", callbacks=()):
    """Fit the model up to config.epochs on config.limit examples per split (None:
    all), validating on the validation split (never the test split, which only `evaluate` reads).

    The train split is shuffled with seed config.seed + initial_epoch.

    Args:
        model: the compiled ZooModel.
        data: an ImageData or SequenceData, validation split already set (`with_validation`).
        config: the RunConfig (epochs, limit, seed, batch_size, learning rate schedule, ...).
        run_dir: the run folder, written every epoch.
        initial_epoch: epochs already done (0 for a new run).
        history: the epoch records so far, appended to in place.
        verbose: Keras's fit verbosity.
        callbacks: extra Keras callbacks.

    Returns:
        the trained model (also saved as the run's final model).

    Raises:
        UserError: the model does not fit the data (`check_fits`), or a non-finite loss
            (`NonFiniteGuard`).
        Interrupted: Ctrl-C; the run folder keeps its last checkpoint.
    """
    data.check_fits(model)
    keys, limit = model.batch_keys, config.limit
    train_batches = batches(data, "train", config, keys, limit, shuffle=True, seed=config.seed + initial_epoch)
    validation = batches(data, "validation", config, keys, limit) if data.validation_fraction else None
    return fit_batches(model, train_batches, validation, config, run_dir, initial_epoch, history, verbose, callbacks)


def fit_batches(
    model,
    train_batches,
    validation,
    config,
    folder,
    initial_epoch,
    history,
    verbose="auto",
    callbacks=(),
    stage="model",
):
    """Fit `model` on dict batches up to config.epochs, checkpointing every epoch in `folder`
    (a run folder, or a stage's sub-folder), and save its final model there.

    Callbacks, in order: `callbacks`, the learning-rate schedule (`learning_rate_callbacks`),
    StepProgbar, NonFiniteGuard, DivergenceGuard, RunRecorder and TensorBoard (FOLDER/logs).

    Args:
        model: the compiled Keras model.
        train_batches: a finite, shuffled `tf.data.Dataset` of dict batches (see `feed`).
        validation: a `tf.data.Dataset` of validation batches, or None.
        config: the RunConfig (epochs, steps_per_execution, learning rate, precision).
        folder: where checkpoints, history, state, logs and the final model go (a path).
        initial_epoch: epochs already done.
        history: the epoch records so far, appended to in place.
        verbose: Keras's fit verbosity.
        callbacks: extra Keras callbacks, run first.
        stage: "model" (folder is the run folder), or the stage trained (folder is its sub-folder).

    Returns:
        `model`, trained; its final model (without optimizer) is saved in `folder`.

    Raises:
        UserError: a non-finite loss (`NonFiniteGuard`), a diverged one (`DivergenceGuard`), or a
            value that cannot be written.
        Interrupted: Ctrl-C; the run folder keeps its last checkpoint.
    """
    folder = Path(folder)
    run_dir = folder if stage == "model" else folder.parent  # what the user resumes
    start = starting_loss(model, validation if validation is not None else train_batches)
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
                DivergenceGuard(start, run_dir, config, stage),
                RunRecorder(folder, history, config),
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
    random seed of epoch `done` (so a resumed run draws as an unbroken one would).

    Args:
        folder: the run or stage folder (a path) holding the checkpoint and history.json.
        done: the epochs checkpointed (state.json's "epoch").
        config: the RunConfig; seed and precision are read.
        strategy: the `tf.distribute.Strategy` to load the model under.

    Returns:
        (the checkpointed model, with its optimizer; history's first `done` records, a list of dicts).

    Raises:
        UserError: the checkpoint does not load, or history.json is missing or corrupt.
    """
    keras.utils.set_random_seed(config.seed + done)
    model = distribute.build(lambda: runs.load_model(folder / runs.CHECKPOINT), strategy, config.precision)
    # The checkpoint's optimizer holds the rate it last trained at; the config's rate (perhaps
    # edited since) is the one training goes on at, and history.json records it per epoch.
    model.optimizer.learning_rate.assign(learning_rate_at(config, done))
    return model, runs.read_json(folder / runs.HISTORY)[:done]
