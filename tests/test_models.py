"""Every zoo entry, small: build, train, .keras save/load, config round trip; and bad hyperparameters.

Parametrized over the zoo folders, so an entry is tested the moment it is registered.
"""

import json
import re

import keras
import numpy as np
import pytest

from keras_vae import registry
from keras_vae.errors import ConfigError
from keras_vae.models import BetaVAE, ContractiveAE, DenoisingAE, KSparseAE, SparseAE

# Shrinks every network; each entry takes the keys its class has.
SMALL = {"latent_dim": 4, "hidden_sizes": [16], "filters": [4, 8], "hidden_dim": 16, "k": 2}


def small_overrides(name):
    fields = registry.settable_fields(registry.load_entry(name))
    return {key: value for key, value in SMALL.items() if key in fields}


@pytest.fixture(scope="module")
def images(mnist_5k):
    return mnist_5k.x_train[:32]


def fit_logs(model, images):
    """Train two steps; the logs of the last."""
    history = model.fit(images, batch_size=16, epochs=1, verbose=0, shuffle=False).history
    return {name: values[-1] for name, values in history.items()}


@pytest.mark.parametrize("name", registry.entry_names())
def test_entry_builds_trains_saves_reloads_and_round_trips_its_config(name, images, tmp_path):
    keras.utils.set_random_seed(0)
    model = registry.build(name, **small_overrides(name))
    logs = fit_logs(model, images)
    # The model's own train_step ran: it logs exactly the model's terms, all finite.
    assert set(logs) == set(model.loss_names)
    assert all(np.isfinite(value) for value in logs.values())

    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")  # no custom_objects needed
    assert type(loaded) is type(model)
    for saved, restored in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy(), err_msg=saved.path)
    np.testing.assert_array_equal(loaded(images).numpy(), model(images).numpy())
    np.testing.assert_array_equal(loaded.code(images).numpy(), model.code(images).numpy())
    if hasattr(model, "sample"):
        np.testing.assert_array_equal(loaded.sample(3, seed=1).numpy(), model.sample(3, seed=1).numpy())

    # The reloaded model (and its restored optimizer) still trains through its own train_step.
    before = [w.numpy() for w in loaded.trainable_weights]
    assert set(fit_logs(loaded, images)) == set(model.loss_names)
    assert loaded.optimizer.iterations.numpy() == model.optimizer.iterations.numpy() + 2
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, loaded.trainable_weights))

    config = model.get_config()
    json.dumps(config)  # plain JSON, as a run folder stores it
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    for key, value in small_overrides(name).items():
        assert config[key] == value


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (BetaVAE, {"beta": -1.0}, "beta must be a KL weight >= 0"),
        (BetaVAE, {"capacity_max": -5.0}, "capacity_max must be None or a capacity >= 0"),
        (BetaVAE, {"capacity_steps": 0}, "capacity_steps must be an integer >= 1"),
        (BetaVAE, {"gamma": -1.0}, "gamma must be a weight >= 0"),
        (SparseAE, {"beta": -0.1}, "beta must be a penalty weight >= 0"),
        (SparseAE, {"rho": 0.0}, "rho must be a target activation in (0, 1)"),
        (SparseAE, {"rho": 1.0}, "rho must be a target activation in (0, 1)"),
        (SparseAE, {"rho": float("nan")}, "rho must be"),
        (KSparseAE, {"k": 0}, "k must be an integer >= 1"),
        (KSparseAE, {"k": 2.5}, "k must be an integer >= 1"),
        (KSparseAE, {"k": 17, "latent_dim": 16}, "k must be at most latent_dim=16, got 17"),
        (DenoisingAE, {"corruption": "gaussian", "noise_level": -0.1}, "noise_level must be a noise sigma >= 0"),
        (DenoisingAE, {"corruption": "masking", "noise_level": 1.5}, "noise_level must be a masking fraction in [0, 1]"),
        (DenoisingAE, {"corruption": "salt_and_pepper", "noise_level": -0.5}, "noise_level must be a salt_and_pepper fraction in [0, 1], got -0.5"),
        (DenoisingAE, {"corruption": "blur"}, "corruption must be one of"),
        (ContractiveAE, {"contractive_weight": -1.0}, "contractive_weight must be >= 0"),
        (ContractiveAE, {"projections": 0}, "projections must be an integer >= 1"),
        (ContractiveAE, {"jacobian": "closed_form", "code_activation": "relu"}, "jacobian='closed_form' needs a single dense sigmoid"),
        (ContractiveAE, {"jacobian": "magic"}, "jacobian must be one of"),
    ],
)
def test_out_of_range_hyperparameters_are_one_config_error(cls, kwargs, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        cls(**{"latent_dim": 16, **kwargs})


def test_the_cli_reports_a_bad_hyperparameter_in_one_line(cli, tmp_path):
    code, out, err = cli("train", "sparse_ae", "--set", "rho=1.5", "--set", "dataset=mnist_5k", "--out", tmp_path / "run")
    assert code == 2
    assert err.strip().splitlines() == ["error: rho must be a target activation in (0, 1), got 1.5"]
    assert not (tmp_path / "run").exists()
