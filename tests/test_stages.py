"""A run folder holds later training stages beside its model (a VQ-VAE's PixelCNN prior in
RUN/prior/), each with its own checkpoints, history and resume (keras_vae/runner/stages.py)."""

import numpy as np
import pytest

from keras_vae.catalogue.entries import read_entry
from keras_vae.core.errors import UserError
from keras_vae.runner import loading, runs, train

TINY = {
    **read_entry("vq_vae")["test_overrides"],
    "epochs": 1,
    "prior.epochs": 1,
    "batch_size": 32,
    "prior.batch_size": 32,
    "dataset": "mnist_5k",
}


@pytest.fixture(scope="module")
def model_only(tmp_path_factory):
    """A vq_vae run whose model is trained and whose prior is not (`--stage model`)."""
    run_dir = tmp_path_factory.mktemp("stages") / "run"
    train.train("vq_vae", TINY, run_dir=run_dir, seed=3, limit=64, verbose=0, stage="model")
    return run_dir


@pytest.mark.slow
def test_the_prior_trains_alone_resumes_and_never_goes_stale(model_only):
    run_dir = model_only
    assert (run_dir / runs.MODEL).is_file() and not (run_dir / "prior").exists()
    model = loading.load_run_model(run_dir)
    assert model.attached("prior", required=False) is None
    with pytest.raises(UserError, match="--stage prior"):
        model.sample(2, seed=0)

    # The prior alone, on the frozen model's codes: its own folder, checkpoint and history.
    train.resume(run_dir, stage="prior", verbose=0)
    prior_dir = run_dir / "prior"
    assert runs.read_json(prior_dir / runs.STATE)["epoch"] == 1
    first = runs.read_json(prior_dir / runs.HISTORY)
    assert [h["epoch"] for h in first] == [1] and np.isfinite(first[0]["val_loss"])
    loaded = loading.load_run_model(run_dir)
    codes = loaded.attached("prior").sample(2, seed=5).numpy()
    assert codes.shape == (2, *loaded.grid_shape) and codes.dtype == np.int32
    np.testing.assert_array_equal(loaded.sample(2, seed=5).numpy(), loaded.decode_codes(codes).numpy())
    assert runs.read_json(run_dir / runs.STATE)["epoch"] == 1  # the model was not touched

    # Nothing left to do, unless the prior is given more epochs: it continues where it stopped.
    with pytest.raises(UserError, match="already has 1 of 1 epochs.*--stage prior --epochs N"):
        train.resume(run_dir, verbose=0)
    with pytest.raises(UserError, match="VQVAE has no stage 'nonsense'; its stages: model, prior"):
        train.resume(run_dir, stage="nonsense", verbose=0)
    model_bytes = (run_dir / runs.MODEL).read_bytes()
    train.resume(run_dir, stage="prior", epochs=2, verbose=0)
    history = runs.read_json(prior_dir / runs.HISTORY)
    assert [h["epoch"] for h in history] == [1, 2] and history[0] == first[0]
    assert runs.read_config(run_dir).stages["prior"].epochs == 2
    assert (run_dir / runs.MODEL).read_bytes() == model_bytes

    # Training the model on would leave the prior fitted to old codes: refused.
    with pytest.raises(UserError, match="stale"):
        train.resume(run_dir, epochs=2, verbose=0)


def test_stage_settings_and_names_are_checked(cli, tmp_path):
    code, _, err = cli("train", "vq_vae", "--set", "prior.epochs=0", "--out", tmp_path / "a")
    assert code == 2 and err.startswith("error: prior.epochs must be an integer >= 1")
    code, _, err = cli("train", "vq_vae", "--set", "prior.batchsize=8", "--out", tmp_path / "b")
    assert code == 2 and "unknown setting 'prior.batchsize'" in err and "prior.batch_size" in err
    code, _, err = cli("train", "conv_vae", "--stage", "prior", "--out", tmp_path / "c")
    assert code == 2 and err == "error: VAE has no stage 'prior'; its stages: model, sampler\n"
    code, _, err = cli("train", "conv_vae", "--stage", "sampler", "--out", tmp_path / "e")
    assert code == 2 and "--stage sampler continues a run" in err
    code, _, err = cli("train", "vq_vae", "--stage", "prior", "--out", tmp_path / "d")
    assert code == 2 and "--stage prior continues a run" in err
    assert not any(tmp_path.iterdir())
