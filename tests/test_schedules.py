"""The learning-rate schedule of a run: its values against NumPy, through training and resume."""

import dataclasses

import numpy as np
import pytest

from keras_vae.core.errors import ConfigError
from keras_vae.runner import runs, train
from keras_vae.runner.config import resolve
from keras_vae.runner.schedules import learning_rate_at

SMALL = {"latent_dim": 4, "filters": [4, 8], "hidden_dim": 16, "dataset": "mnist_5k", "batch_size": 64}


def numpy_cosine(rate, epoch, epochs):
    return 0.5 * rate * (1 + np.cos(np.pi * min(epoch, epochs) / epochs))


@pytest.mark.parametrize("epoch", [0, 1, 7, 19, 20, 25])
def test_cosine_decays_from_the_rate_to_zero_and_constant_is_constant(epoch):
    config = dataclasses.replace(resolve("conv_vae"), learning_rate=2e-3, epochs=20, learning_rate_schedule="cosine")
    assert learning_rate_at(config, epoch) == pytest.approx(numpy_cosine(2e-3, epoch, 20), rel=1e-5, abs=1e-12)
    assert learning_rate_at(dataclasses.replace(config, learning_rate_schedule="constant"), epoch) == 2e-3


def test_a_run_trains_on_the_curve_and_resumes_on_it(tmp_path):
    overrides = {**SMALL, "epochs": 2, "learning_rate": 1e-2, "learning_rate_schedule": "cosine"}
    _, run_dir = train.train("conv_vae", overrides, run_dir=tmp_path / "run", seed=0, verbose=0, limit=128)
    runs.write_config(
        run_dir, runs.read_config(run_dir).with_epochs(4)
    )  # as `train --resume RUN --epochs 4` records it
    model, _ = train.resume(run_dir, verbose=0, limit=128)
    history = runs.read_json(run_dir / runs.HISTORY)
    # Epochs 1-2 ran on the 2-epoch curve (1e-2, then 5e-3); epochs 3-4 on the 4-epoch one.
    logged = [h["learning_rate"] for h in history]
    np.testing.assert_allclose(logged, [1e-2, 5e-3, numpy_cosine(1e-2, 2, 4), numpy_cosine(1e-2, 3, 4)], rtol=1e-5)
    assert float(model.optimizer.learning_rate) == pytest.approx(logged[-1], rel=1e-5)


def test_an_unknown_schedule_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="learning_rate_schedule must be one of constant, cosine"):
        train.train("conv_vae", {**SMALL, "learning_rate_schedule": "linear"}, run_dir=tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()
