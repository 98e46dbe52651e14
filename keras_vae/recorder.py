"""`RunRecorder`: a run folder's checkpoint, history and state after every epoch, written while
the next epoch trains.

Saving `checkpoint.keras` (model and optimizer) takes 0.1-0.3 s here, as long as an epoch of a
small model on 4,000 digits: written in line, it was a third of a short run (issue 17). At each
epoch's end the weights and optimizer state are copied into a shadow model (milliseconds), and
one background thread saves the shadow while training goes on. A new copy waits for the
previous save, so at most one finished epoch is ever unsaved: a kill loses at most that epoch
(and the one in progress), and `--resume` continues from the last saved one.
"""

import concurrent.futures
import time
from pathlib import Path

import keras

from keras_vae import distribute, runs


def shadow_of(model):
    """A compiled copy of `model` with its own variables (the same config and optimizer config)."""
    with distribute.dtype_policy(model.dtype_policy.name):  # as `distribute.build` made it
        shadow = type(model).from_config(model.get_config())
    shadow.compile_from_config(model.get_compile_config())  # builds the optimizer's variables
    return shadow


def copy_state(source, target):
    """Every weight and optimizer variable of `source` into `target` (same structure)."""
    target.set_weights(source.get_weights())
    for mine, theirs in zip(target.optimizer.variables, source.optimizer.variables, strict=True):
        mine.assign(theirs)


class RunRecorder(keras.callbacks.Callback):
    """After each epoch: checkpoint, history and state, each written atomically, in that order
    (in the background thread), so state.json never names an epoch whose checkpoint is not on
    disk. `close()` waits for the last write (and raises its error, if any)."""

    def __init__(self, run_dir, history):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.history = history
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending = None
        self._shadow = None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        record["seconds"] = round(time.perf_counter() - self._started, 3)
        self.history.append(record)
        self.wait()  # the shadow is free again, and at most one epoch is unsaved
        if self._shadow is None:
            self._shadow = shadow_of(self.model)
        copy_state(self.model, self._shadow)
        self._pending = self._writer.submit(self._write, epoch + 1, list(self.history))

    def _write(self, epochs, history):
        runs.save_model(self._shadow, self.run_dir / runs.CHECKPOINT)
        runs.write_json(self.run_dir / runs.HISTORY, history)
        runs.write_json(self.run_dir / runs.STATE, {"epoch": epochs})

    def wait(self):
        """Block until the pending write is on disk; raise its error if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self):
        try:
            self.wait()
        finally:
            self._writer.shutdown()
