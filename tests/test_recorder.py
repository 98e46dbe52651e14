"""The run recorder writes each epoch's checkpoint in the background: what lands on disk must be
exactly the model and optimizer of that epoch, and a failed write must not pass unnoticed."""

import numpy as np
import pytest

from keras_vae import runs, train
from keras_vae.errors import UserError
from keras_vae.recorder import RunRecorder

TINY_DENSE = {"dataset": "mnist_5k", "latent_dim": 2, "hidden_sizes": [16], "batch_size": 64, "epochs": 2}


def test_the_checkpoint_holds_the_last_epochs_model_and_optimizer(tmp_path):
    model, run_dir = train.train("dense_vae", TINY_DENSE, run_dir=tmp_path / "run", seed=0, verbose=0, limit=256)
    saved = runs.load_model(run_dir / runs.CHECKPOINT)
    assert runs.read_json(run_dir / runs.STATE) == {"epoch": 2}
    assert int(saved.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) == 8
    for ours, theirs in zip(model.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(model.optimizer.variables, saved.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_a_failed_background_write_is_raised_when_the_recorder_closes(tmp_path):
    model, _ = train.train("dense_vae", {**TINY_DENSE, "epochs": 1}, run_dir=tmp_path / "run", seed=0, verbose=0,
                           limit=128)
    recorder = RunRecorder(tmp_path / "run", history=[])
    recorder.set_model(model)
    recorder.on_epoch_begin(0)
    recorder.on_epoch_end(0, {"loss": float("nan")})  # history.json refuses NaN, in the thread
    with pytest.raises(UserError, match="not finite"):
        recorder.close()
