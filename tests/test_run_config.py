"""The run config: one frozen type, validated when built, that config.json serializes, and that
reads every run folder written before it (the shipped zoo's, and one made by the code of 9ef5708)."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from keras_vae.catalogue import entries
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.runner import loading, runs, train
from keras_vae.runner.config import RunConfig, resolve

# A tiny vq_vae run (the model and its prior, one epoch each, 64 digits) trained by the code of
# commit 9ef5708, before the typed config: `python -m keras_vae.zoo train vq_vae --limit 64 ...`.
OLD_RUN = Path(__file__).resolve().parent / "data" / "run_9ef5708_vq_vae"


def test_a_built_config_refuses_every_write():
    config = resolve("vq_vae")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    with pytest.raises(TypeError):
        config.params["latent_dim"] = 3  # a read-only mapping
    with pytest.raises(TypeError):
        config.stages["prior"] = None
    with pytest.raises(AttributeError):
        config.params["filters"].append(128)  # lists become tuples
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.stages["prior"].epochs = 3


def test_a_new_config_is_a_new_object_and_is_validated():
    config = resolve("vq_vae")
    longer = config.with_epochs(30, "prior")
    assert (config.stages["prior"].epochs, longer.stages["prior"].epochs) == (20, 30)
    assert longer.stage("prior").epochs == 30 and longer.stage("model") is longer
    with pytest.raises(ConfigError, match="prior.epochs must be an integer >= 1"):
        config.with_epochs(0, "prior")
    with pytest.raises(ConfigError, match="learning_rate must be finite and > 0"):
        dataclasses.replace(config, learning_rate=float("nan"))
    with pytest.raises(UserError, match="limit must be an integer >= 1"):
        dataclasses.replace(config, limit=0)


@pytest.mark.parametrize("entry", [e for e in entries.entry_names() if (entries.zoo_dir() / e / "pretrained").is_dir()])
def test_every_shipped_config_reads_and_writes_back_the_same(entry):
    stored = json.loads((entries.zoo_dir() / entry / "pretrained" / "config.json").read_text())
    config = RunConfig.from_json(stored)
    written = config.to_json()
    assert {key: written[key] for key in stored} == stored  # every recorded value, unchanged
    assert RunConfig.from_json(json.loads(json.dumps(written))) == config


def test_a_config_json_that_is_not_a_run_config_is_one_error():
    with pytest.raises(UserError, match="not a keras_vae run config"):
        RunConfig.from_json({"epochs": 3})
    with pytest.raises(UserError, match="fields this keras_vae does not know: colour"):
        RunConfig.from_json({"class": "VAE", "params": {}, "colour": "red"})


def test_a_run_folder_from_before_the_typed_config_loads_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(OLD_RUN, run_dir)
    config = runs.read_config(run_dir)
    assert (config.class_name, config.entry, config.limit, config.stages["prior"].epochs) == ("VQVAE", "vq_vae", 64, 1)
    model = loading.load_run_model(run_dir)
    assert model.attached("prior") is not None
    train.resume(run_dir, stage="prior", epochs=2, verbose=0)  # the prior on by one epoch
    assert runs.epochs_done(run_dir / "prior") == 2
    assert json.loads((run_dir / "config.json").read_text())["stages"]["prior"]["epochs"] == 2


def test_shuffle_buffer_is_checked_and_reaches_the_data():
    with pytest.raises(UserError, match="shuffle_buffer must be an integer >= 1"):
        resolve("dense_vae", {"shuffle_buffer": 0})
    config = resolve("dense_vae", {"dataset": "mnist_5k", "shuffle_buffer": 64})
    _, data = train.load_data(config)
    assert data.shuffle_buffer == 64 and data.validation_fraction == config.validation_fraction
    _, default = train.load_data(resolve("dense_vae", {"dataset": "mnist_5k"}))
    assert default.shuffle_buffer is None


# Tiny runs trained by the code of commit 2a8fbc1, before the model contract, when the VAEs were
# the classes DenseVAE and ConvVAE: `train dense_vae --set dataset=mnist_5k --set hidden_sizes=[8]
# --set latent_dim=2 --epochs 1 --seed 0`, likewise conv_vae (filters [4, 8], hidden_dim 8) and ae
# (latent_dim 4). reference.npz holds 8 test digits and that code's reconstructions of them.
BEFORE_CONTRACT = {
    "dense_vae": ("VAE", "dense"),
    "conv_vae": ("VAE", "conv"),
    "ae": ("AE", None),
}


@pytest.mark.parametrize("entry", sorted(BEFORE_CONTRACT))
def test_a_run_folder_from_before_the_model_contract_reconstructs_as_it_did(entry, tmp_path, cli):
    run_dir = tmp_path / entry
    shutil.copytree(OLD_RUN.parent / f"run_2a8fbc1_{entry}", run_dir)
    class_name, architecture = BEFORE_CONTRACT[entry]
    config = runs.read_config(run_dir)
    assert config.class_name == class_name and config.params.get("architecture") == architecture
    model = loading.load_run_model(run_dir)
    assert type(model).__name__ == class_name
    reference = np.load(run_dir / "reference.npz")
    np.testing.assert_allclose(
        model.reconstruct({"images": reference["images"]}), reference["reconstructions"], atol=1e-6
    )
    code, out, err = cli("evaluate", run_dir, "--k", 2, "--limit", 16)
    assert code == 0 and "Traceback" not in err, err


def test_a_dense_vae_run_from_before_the_model_contract_resumes(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(OLD_RUN.parent / "run_2a8fbc1_dense_vae", run_dir)
    train.resume(run_dir, epochs=2, verbose=0)
    stored = json.loads((run_dir / "config.json").read_text())
    assert runs.epochs_done(run_dir) == 2 and stored["class"] == "VAE" and stored["params"]["architecture"] == "dense"
    assert stored["run_format"] == 2 and stored["written_by"].startswith("keras_vae ")


def test_a_run_folder_of_a_newer_format_is_refused_naming_who_wrote_it(tmp_path, cli):
    run_dir = tmp_path / "run"
    shutil.copytree(OLD_RUN.parent / "run_2a8fbc1_ae", run_dir)
    stored = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**stored, "run_format": 3, "written_by": "keras_vae 9.1.0"}))
    code, _, err = cli("evaluate", run_dir)
    assert code == 2 and "format 3, written by keras_vae 9.1.0" in err and "upgrade keras_vae" in err, err
