"""`run_model_test(entry, ...)`: everything the model contract promises, for one zoo entry, at
the tiny size its own config gives (`"test_overrides"` in zoo/<entry>/config.json).

In the spirit of keras-hub's `run_backbone_test`: a new family's test is one parametrized line.
It checks build and config round trip, the `.keras` round trip (no custom_objects, same outputs,
trains on through its own train_step), that a few steps lower the loss, evaluation (every number
documented by the model, finite), sampling (repeatable per seed, or refused), every declared
figure, and export parity of every declared part in ONNX.
"""

import dataclasses
import json

import keras
import numpy as np
import pytest

from keras_vae.catalogue.entries import read_entry
from keras_vae.core.errors import UserError
from keras_vae.data import sequences
from keras_vae.export import export_run
from keras_vae.runner import builder, evaluate, figures, runs, stages
from keras_vae.runner import config as run_config

STEPS = 12


def tiny_config(entry):
    """The entry's resolved config at its test size, with the data-given params filled."""
    from keras_vae.data.datasets import known_model_params, offline_variant

    stored = read_entry(entry)
    dataset = offline_variant(stored.get("dataset", "mnist"))  # mnist_5k, or moving:mnist_5k
    config = dataclasses.replace(
        run_config.resolve(entry, {**stored.get("test_overrides", {}), "dataset": dataset}), seed=0
    )
    return config.for_data(dataset, lambda: known_model_params(dataset))


def fixed_batch(model, data, split, n):
    examples = data.examples(split, n)
    return {key: examples[key] for key in model.batch_keys}


def run_model_test(entry, data, tmp_path):
    keras.utils.set_random_seed(0)
    config = tiny_config(entry)
    if config.dataset.startswith(sequences.PREFIX):  # sequences of the same digits
        data = sequences.moving(data)
    model = builder.build_from_config(config)
    train_batch = fixed_batch(model, data, "train", 64)

    # Config round trip: plain JSON, every override kept, the same weights shapes.
    model_config = model.get_config()
    json.dumps(model_config)
    clone = type(model).from_config(model_config)
    assert clone.get_config() == model_config
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    for key, value in run_config.plain(config.params).items():
        if value is not None:  # a setting left null is chosen by the model (a conv network's, from the image size)
            assert model_config[key] == value, key

    # A few steps through the model's own train_step lower its loss on the batch it trains on.
    before = model.evaluate(train_batch, batch_size=64, verbose=0, return_dict=True)
    assert set(before) == set(model.loss_names)
    history = model.fit(train_batch, batch_size=64, epochs=STEPS, verbose=0, shuffle=False).history
    assert set(history) == set(model.loss_names)
    assert all(np.isfinite(v[-1]) for v in history.values())
    after = model.evaluate(train_batch, batch_size=64, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"], (before["loss"], after["loss"])

    # .keras round trip without custom_objects: same weights and outputs; it trains on.
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    for saved, restored in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy(), err_msg=saved.path)
    rng = np.random.default_rng(0)
    for part, twin in zip(model.export_parts(), loaded.export_parts(), strict=True):
        inputs = {i.name: i.draw(rng, 4) for i in part.inputs}
        for name, value in part.function(**inputs).items():
            np.testing.assert_array_equal(twin.function(**inputs)[name].numpy(), value.numpy(), err_msg=part.name)
    iterations = loaded.optimizer.iterations.numpy()
    assert set(loaded.fit(train_batch, batch_size=32, epochs=1, verbose=0).history) == set(model.loss_names)
    assert loaded.optimizer.iterations.numpy() == iterations + 2

    # Later stages (a learned prior) train on the frozen model's outputs, and attach.
    for stage in model.stages:
        stage_model = builder.compile_model(model.stage_model(stage), config.stage(stage))
        stage_batch = {k: np.asarray(v) for k, v in model.stage_batch(stage, train_batch).items()}
        before = stage_model.evaluate(stage_batch, batch_size=64, verbose=0, return_dict=True)["loss"]
        stage_model.fit(stage_batch, batch_size=64, epochs=STEPS, verbose=0, shuffle=False)
        assert stage_model.evaluate(stage_batch, batch_size=64, verbose=0, return_dict=True)["loss"] < before, stage
        model.attach(stage, stage_model)

    # Evaluation: finite numbers, each documented by the model that produced it.
    metrics = evaluate.evaluate_model(model, data.examples("test", 32), batch_size=16, k=4 if model.bound else 0)
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "split_examples"}
    numbers.pop("iwae_k", None)
    assert numbers and all(np.isfinite(v) for v in numbers.values())
    assert set(numbers) - {"latent_dim"} == set(metrics["legend"]), "every reported number needs a term doc"
    assert set(model.evaluated_names) <= set(numbers)

    # Sampling: repeatable per seed, images in [0, 1]; or one clear refusal.
    if "prior_samples" in model.figures or "class_samples" in model.figures:
        a, b = model.sample(3, seed=1).numpy(), model.sample(3, seed=1).numpy()
        np.testing.assert_array_equal(a, b)
        assert a.shape == (3, *model.image_shape) and 0 <= a.min() and a.max() <= 1
        assert not np.allclose(a, model.sample(3, seed=2).numpy())
    elif not model.sample_figure:  # a model that samples from examples draws that figure below
        with pytest.raises(UserError, match="not a generative model"):
            model.sample(3, seed=1)

    # Every declared figure draws.
    out = tmp_path / "figures"
    out.mkdir()
    for name in model.figures:
        assert figures.draw(name, model, out, data.examples("test", 64)).is_file(), name

    # Every declared part exports to ONNX and matches Keras (export_run verifies, or raises).
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runs.write_config(run_dir, config)
    runs.save_model(model, run_dir / runs.MODEL, include_optimizer=False)
    for stage in model.stages:
        stages.folder(run_dir, stage).mkdir()
        runs.save_model(model.attached(stage), stages.folder(run_dir, stage) / runs.MODEL, include_optimizer=False)
    artifacts = export_run(run_dir, formats="onnx", part="all", out=tmp_path / "export")
    assert sorted(a.model_name for a in artifacts) == sorted(f"{entry}_{p.name}" for p in model.export_parts())
    assert all(np.isfinite(list(a.errors.values())).all() for a in artifacts)  # export_run checked each
    return model
