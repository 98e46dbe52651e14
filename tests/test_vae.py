"""The dense and conv VAEs: built by name with checked overrides, trained briefly, and round-tripped
through .keras files; the recorded parameter count of every entry."""

import keras
import numpy as np
import pytest

from keras_vae.catalogue import entries, registry
from keras_vae.core.errors import ConfigError, UserError
from keras_vae.models import VAE
from keras_vae.runner import builder
from keras_vae.runner import config as run_config


def test_unknown_entry_lists_known_names_and_closest_match():
    with pytest.raises(UserError, match=r"unknown zoo entry 'conv_vea' \(did you mean 'conv_vae'\?\).*dense_vae"):
        builder.build("conv_vea")


def test_overrides_are_type_checked_against_the_entry():
    assert run_config.resolve("conv_vae", {"latent_dim": "2"}).params["latent_dim"] == 2
    assert run_config.resolve("conv_vae", {"learning_rate": "1"}).learning_rate == 1.0
    assert run_config.resolve("conv_vae", {"dataset": "123"}).dataset == "123"
    assert run_config.resolve("conv_vae", {"filters": "[8, 16]"}).params["filters"] == (8, 16)
    # A constructor argument the entry leaves out is settable too, typed by its default.
    assert run_config.resolve("conv_vae", {"binarize": "true"}).params["binarize"] is True
    with pytest.raises(UserError, match="latent_dim='2.5' has the wrong type: expected int"):
        run_config.resolve("conv_vae", {"latent_dim": "2.5"})
    with pytest.raises(UserError, match="unknown setting 'latnt_dim'.*did you mean 'latent_dim'"):
        run_config.resolve("conv_vae", {"latnt_dim": "2"})
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1"):
        run_config.resolve("conv_vae", {"epochs": "0"})


def test_build_applies_overrides_and_list_counts_parameters():
    model = builder.build("dense_vae", latent_dim=3, hidden_sizes=[32])
    assert model.latent_dim == 3 and model.image_shape == (28, 28, 1)
    # Weights: 784*32+32, 32*3+3 twice, 3*32+32, 32*784+784.
    assert model.count_params() == (784 * 32 + 32) + 2 * (32 * 3 + 3) + (3 * 32 + 32) + (32 * 784 + 784)
    assert {"dense_vae", "conv_vae"} <= {name for name, _, _ in registry.list_entries()}


@pytest.mark.parametrize("name", entries.entry_names())
def test_an_entrys_recorded_parameter_count_is_its_models(name):
    """`list` reads `parameters` from zoo/<entry>/config.json instead of building every model."""
    [recorded] = [params for entry, _, params in registry.list_entries() if entry == name]
    built = builder.build(name, compile=False).count_params()
    assert recorded == built, f'zoo/{name}/config.json needs "parameters": {built} (it says {recorded})'
    assert "parameters" not in run_config.resolve(name).to_json()  # metadata, not a setting


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_dim": 0}, "latent_dim must be an integer >= 1"),
        ({"likelihood": "poisson"}, "likelihood must be one of"),
        ({"image_shape": (30, 30, 1)}, "divisible by 4"),
        ({"kernel_size": 1}, "kernel_size must be >= the stride"),
        ({"filters": []}, "filters must be a non-empty list"),
        ({"likelihood": "gaussian", "binarize": True}, "binarize needs the bernoulli"),
        ({"gaussian_sigma": -1.0}, "gaussian_sigma must be >= 0.001"),
    ],
)
def test_bad_hyperparameters_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        VAE(architecture="conv", **kwargs)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_vae_on_colour_images(likelihood, rng):
    model = VAE(
        architecture="conv",
        image_shape=(32, 32, 3),
        latent_dim=4,
        filters=[8, 16],
        hidden_dim=32,
        likelihood=likelihood,
        learn_sigma=likelihood == "gaussian",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = rng.uniform(size=(8, 32, 32, 3)).astype(np.float32)
    reconstruction = model(x).numpy()
    assert reconstruction.shape == x.shape and 0 <= reconstruction.min() and reconstruction.max() <= 1
    before = None if model.log_sigma is None else model.log_sigma.numpy().copy()
    logs = model.train_on_batch(x, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and set(logs) == {"loss", "reconstruction", "kl"}
    if before is not None:  # learn_sigma: the per-channel sigma is a trained weight
        assert not np.allclose(model.log_sigma.numpy(), before)


def test_binarization_draws_fresh_bits_in_training_and_fixed_bits_in_evaluation(rng):
    model = VAE(architecture="dense", image_shape=(4, 4, 1), latent_dim=2, hidden_sizes=[8], binarize=True)
    x = np.full((64, 4, 4, 1), 0.3, np.float32)
    train_a, train_b = model.targets(x, training=True).numpy(), model.targets(x, training=True).numpy()
    assert set(np.unique(train_a)) == {0.0, 1.0} and not np.array_equal(train_a, train_b)
    assert abs(train_a.mean() - 0.3) < 0.05  # P(bit = 1) = pixel intensity
    np.testing.assert_array_equal(model.targets(x, training=False), model.targets(x, training=False))


def test_sample_is_repeatable_per_seed():
    model = VAE(architecture="dense", image_shape=(8, 8, 1), latent_dim=2, hidden_sizes=[8])
    a, b, c = model.sample(5, seed=1).numpy(), model.sample(5, seed=1).numpy(), model.sample(5, seed=2).numpy()
    assert a.shape == (5, 8, 8, 1) and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_keras_round_trip_keeps_outputs_config_and_train_step(tmp_path, rng):
    model = VAE(
        architecture="dense",
        image_shape=(8, 8, 3),
        latent_dim=3,
        hidden_sizes=[16, 8],
        likelihood="gaussian",
        gaussian_sigma=0.2,
        learn_sigma=True,
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = rng.uniform(size=(16, 8, 8, 3)).astype(np.float32)
    model.fit(x, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")  # no custom_objects needed
    assert type(loaded) is VAE and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded(x), model(x))
    np.testing.assert_array_equal(loaded.log_sigma, model.log_sigma)
    before = [w.numpy().copy() for w in loaded.trainable_weights]
    history = loaded.fit(x, epochs=1, batch_size=8, verbose=0).history
    # Only our train_step logs the KL; the stock one would need a compiled loss and fail.
    assert set(history) == {"loss", "reconstruction", "kl"}
    assert any(not np.allclose(a, w) for a, w in zip(before, loaded.trainable_weights))


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["dense_vae", "conv_vae"])
def test_a_few_hundred_steps_lower_the_test_loss(entry, mnist_5k):
    keras.utils.set_random_seed(0)
    model = builder.build(entry)
    test = mnist_5k.batches("test", 256)
    untrained = model.evaluate(test, return_dict=True, verbose=0)["loss"]
    model.fit(mnist_5k.batches("train", 64, shuffle=True, seed=0), epochs=5, shuffle=False, verbose=0)  # 315 steps
    trained = model.evaluate(test, return_dict=True, verbose=0)
    # Untrained: ~543 nats (784 pixels at logit ~0); a working VAE is far below half of that.
    assert untrained > 500
    assert trained["loss"] < 0.45 * untrained
    assert trained["kl"] > 1.0  # the latent code is in use, not collapsed to the prior


def test_the_python_api_resolves_every_documented_name():
    from keras_vae import zoo

    assert set(zoo.__all__) == {"build", "evaluate", "export", "list", "load", "resume", "train"}
    assert all(callable(getattr(zoo, name)) for name in zoo.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        zoo.nope  # noqa: B018  (the attribute lookup is what raises)


def test_the_python_api_lists_without_tensorflow_and_imports_it_quietly():
    """`zoo.list()` reads the catalogue only; `zoo.build` imports TensorFlow as the CLI does,
    without its native start-up lines (oneDNN, cudart_stub) on stderr."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it

    def python(code):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout, result.stderr

    out, err = python(
        "import sys; from keras_vae import zoo; assert len(zoo.list()) > 1; print('tensorflow' in sys.modules)"
    )
    assert (out, err) == ("False\n", "")
    out, err = python("from keras_vae import zoo; print(type(zoo.build('dense_vae')).__name__)")
    assert (out, err) == ("VAE\n", "")
