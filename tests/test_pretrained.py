"""Every zoo entry that ships trained weights (zoo/<entry>/pretrained/model.keras) has weights that
match its config and reproduce its metrics.json; an entry without them says so on its card; a
shipped sampler is the fit of its model's codes."""

import numpy as np
import pytest

from keras_vae import zoo
from keras_vae.catalogue import entries
from keras_vae.core import mixture
from keras_vae.data import sequences
from keras_vae.data.datasets import offline_variant
from keras_vae.runner import builder, evaluate, runs, samplers, train
from keras_vae.runner import config as run_config

ENTRIES = [e for e in entries.entry_names() if (entries.zoo_dir() / e / runs.PRETRAINED / runs.MODEL).is_file()]
UNSHIPPED = sorted(set(entries.entry_names()) - set(ENTRIES))
# Re-evaluation repeats the shipped numbers: the same weights, test split, batch size and noise
# seed. What is left is float rounding that differs with thread scheduling.
RELATIVE_TOLERANCE = 1e-3


@pytest.mark.parametrize("entry", ENTRIES)
def test_entry_ships_weights_that_match_its_config(entry):
    folder = runs.pretrained_dir(entry)
    shipped, defaults = runs.read_config(folder), run_config.load_entry(entry)
    assert shipped.class_name == defaults["class"] and shipped.entry == entry
    for key, value in defaults["params"].items():
        if value is not None:  # image_shape is filled in from the data
            assert run_config.plain(shipped.params[key]) == value, key
    model = zoo.load(entry, pretrained=True)
    fresh = builder.build_from_config(shipped, compile=False)
    assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in fresh.weights]
    assert not all(np.allclose(a, b) for a, b in zip(model.get_weights(), fresh.get_weights()))
    assert (folder / runs.MODEL).stat().st_size < 5 * 2**20  # the size we promise


@pytest.mark.parametrize("entry", ENTRIES)
def test_shipped_metrics_reproduce_on_the_test_split(entry, mnist_5k):
    folder = runs.pretrained_dir(entry)
    shipped = runs.read_json(folder / evaluate.METRICS)
    config = runs.read_config(folder)
    assert shipped["dataset"] == config.dataset == offline_variant(run_config.load_entry(entry)["dataset"])
    test_data = sequences.moving(mnist_5k) if config.dataset.startswith(sequences.PREFIX) else mnist_5k
    again = evaluate.evaluate_model(zoo.load(entry), test_data.examples("test"), config.batch_size, k=0, seed=0)
    compared = [name for name, value in again.items() if isinstance(value, float)]
    assert "bce" in compared and "mse" in compared
    for name in compared:
        assert again[name] == pytest.approx(shipped[name], rel=RELATIVE_TOLERANCE, abs=1e-6), name
    if "iwae" in shipped:  # too slow to redo here (k = 1000); it must bound log p(x) above the ELBO
        assert shipped["elbo"] <= shipped["iwae"] <= 0


def test_an_untrained_model_by_name():
    model = zoo.load("dense_vae", pretrained=False)
    trained = zoo.load("dense_vae")
    assert type(model) is type(trained)
    assert not np.allclose(model.get_weights()[0], trained.get_weights()[0])


def test_cli_commands_take_an_entry_name_and_never_write_into_the_zoo(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = runs.pretrained_dir("conv_vae")
    before = {p.name: p.stat().st_mtime_ns for p in shipped.iterdir()}
    code, out, err = cli("sample", "conv_vae", "--n", "4")
    assert code == 0, err
    assert (tmp_path / "runs" / "conv_vae" / "pretrained" / "samples_seed0_n4.png").is_file()
    code, out, err = cli("evaluate", "conv_vae", "--k", "2", "--limit", "64")
    assert code == 0, err
    assert (tmp_path / "runs" / "conv_vae" / "pretrained" / evaluate.METRICS).is_file()
    assert {p.name: p.stat().st_mtime_ns for p in shipped.iterdir()} == before
    code, _, err = cli("sample", "no_such_entry")
    assert code == 2 and "nor is it a zoo entry name" in err and "did you mean" not in err
    code, _, err = cli("sample", "conv_vea")
    assert code == 2 and "nor is it a zoo entry name (did you mean 'conv_vae'?)" in err


@pytest.mark.parametrize("entry", UNSHIPPED)
def test_an_entry_without_weights_says_so_on_its_card(entry):
    card = (entries.zoo_dir() / entry / "README.md").read_text()
    assert "No weights are shipped yet" in card, entry


SAMPLERS = [e for e in ENTRIES if (runs.pretrained_dir(e) / samplers.STAGE / f"{samplers.GMM}.npz").is_file()]


@pytest.mark.parametrize("entry", SAMPLERS)
def test_a_shipped_sampler_is_the_fit_of_the_shipped_models_training_codes(entry):
    """Refitting the recorded K on the codes of the shipped model's training split gives the held-out
    log-likelihood recorded for it, and for an unconditional model the sampler beats N(0, I) on
    the judge's two headline numbers in the shipped metrics.json."""
    folder = runs.pretrained_dir(entry)
    record = runs.read_json(folder / samplers.STAGE / f"{samplers.GMM}.json")
    config = runs.read_config(folder)
    _, data = train.load_data(config)
    model = zoo.load(entry)
    train_codes = samplers.codes(model, data, "train", config)
    validation = samplers.codes(model, data, "validation", config) if record["validation_codes"] else train_codes
    k = record["components"]
    if record["components_chosen_by"] == "validation":  # refit the K chosen; score the held-out codes
        refit = mixture.fit(train_codes, None, k, config.seed)
        score = refit.log_prob(validation).numpy().mean()
    else:  # a run without a validation split chose K by BIC: choose again
        refit = mixture.fit(train_codes, None, seed=config.seed)
        assert refit.components == k
        score = refit.selection[k]
    assert score == pytest.approx(record["held_out_log_likelihood"][str(k)], abs=0.02)
    assert samplers.read(folder).components == k and model.attached_samplers() == ("gmm", "flow")
    # The shipped flow scores the codes it stopped on as its record says.
    flow_record = runs.read_json(folder / samplers.STAGE / f"{samplers.FLOW}.json")
    flow_score = model.fitted_sampler("flow").log_prob(validation).numpy().mean()
    assert flow_score == pytest.approx(flow_record["held_out_log_likelihood"], abs=1e-3)
    quality = runs.read_json(folder / evaluate.METRICS)["sample_quality"]
    gmm = quality["by_sampler"]["gmm"]
    if not model.condition_classes:  # cvae's 2-D style code is near N(0, I) already: a tie (README)
        assert gmm["frechet_distance"] < quality["frechet_distance"] and gmm["confident"] > quality["confident"]
