"""Every zoo entry keeps the model contract (tests/helpers/model_check.py), and bad
hyperparameters are one clear error each.

Parametrized over the zoo folders, so an entry is tested the moment it has one.
"""

import re

import keras
import pytest
from helpers.model_check import run_model_test

from keras_vae.catalogue import entries
from keras_vae.catalogue.entries import read_entry
from keras_vae.core.errors import ConfigError
from keras_vae.models import IWAE, VAE, BetaVAE, ContractiveAE, DenoisingAE, KSparseAE, SparseAE
from keras_vae.runner import config as run_config


@pytest.mark.slow
@pytest.mark.parametrize("name", entries.entry_names())
def test_entry_keeps_the_model_contract(name, mnist_5k, tmp_path):
    """Build, round trips, training, evaluation, sampling, figures and export of every entry,
    at the tiny size of its own `test_overrides` (tests/helpers/model_check.py)."""
    run_model_test(name, mnist_5k, tmp_path)


def test_every_entry_has_tiny_test_overrides_that_apply():
    for name in entries.entry_names():
        overrides = read_entry(name).get("test_overrides")
        assert overrides, f"{name} has no test_overrides in its config.json"
        run_config.resolve(name, overrides)  # every key is a known, well-typed setting


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
        (
            DenoisingAE,
            {"corruption": "masking", "noise_level": 1.5},
            "noise_level must be a masking fraction in [0, 1]",
        ),
        (
            DenoisingAE,
            {"corruption": "salt_and_pepper", "noise_level": -0.5},
            "noise_level must be a salt_and_pepper fraction in [0, 1], got -0.5",
        ),
        (DenoisingAE, {"corruption": "blur"}, "corruption must be one of"),
        (ContractiveAE, {"contractive_weight": -1.0}, "contractive_weight must be >= 0"),
        (ContractiveAE, {"projections": 0}, "projections must be an integer >= 1"),
        (
            ContractiveAE,
            {"jacobian": "closed_form", "code_activation": "relu"},
            "jacobian='closed_form' needs a single dense sigmoid",
        ),
        (ContractiveAE, {"jacobian": "magic"}, "jacobian must be one of"),
        (IWAE, {"k": 0}, "k must be an integer >= 1 (importance samples per example), got 0"),
        (IWAE, {"k": 2.0}, "k must be an integer >= 1"),
        (
            VAE,
            {"activation": "swish!"},
            "activation must be one of relu, elu, silu, gelu, tanh, leaky_relu, got 'swish!'",
        ),
    ],
)
def test_out_of_range_hyperparameters_are_one_config_error(cls, kwargs, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        cls(**{"latent_dim": 16, **kwargs})


@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_the_hidden_activation_is_every_hidden_layer_s_and_survives_a_round_trip(architecture, tmp_path):
    model = VAE(
        architecture=architecture, latent_dim=2, hidden_sizes=[8, 4], filters=[4, 8], hidden_dim=8, activation="elu"
    )
    reloaded = keras.saving.load_model(model.save(tmp_path / "m.keras") or tmp_path / "m.keras")
    for network in (reloaded.encoder, reloaded.decoder):
        hidden = [
            layer
            for layer in network.layers
            if layer.name not in ("z_mean", "z_log_var", "pixels", "outputs")
            and getattr(layer, "activation", None) is not None
        ]
        assert hidden and {layer.activation.__name__ for layer in hidden} == {"elu"}


def test_the_cli_reports_a_bad_hyperparameter_in_one_line(cli, tmp_path):
    code, out, err = cli(
        "train", "sparse_ae", "--set", "rho=1.5", "--set", "dataset=mnist_5k", "--out", tmp_path / "run"
    )
    assert code == 2
    assert err.strip().splitlines() == ["error: rho must be a target activation in (0, 1), got 1.5"]
    assert not (tmp_path / "run").exists()
