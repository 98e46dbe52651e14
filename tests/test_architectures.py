"""The conv networks fit the image size: a conv setting left null is chosen by `conv_stages`
(the shipped two-stage network below 64x64, the four-stage network of Higgins et al. 2017 and
Locatello et al. 2019 from 64x64); an explicit setting is kept."""

import keras
import numpy as np
import pytest

from keras_vae.catalogue.entries import read_entry
from keras_vae.core.errors import ConfigError
from keras_vae.models import VAE
from keras_vae.models.architectures import LARGE_CONV, SMALL_CONV, conv_stages
from keras_vae.runner import builder

CONV_ENTRIES = ("conv_vae", "beta_vae", "cvae", "iwae")


def layers_of(network, kind):
    return [layer for layer in network.layers if type(layer) is kind]


@pytest.mark.parametrize(
    "shape, stages",
    [
        ((28, 28, 1), SMALL_CONV),
        ((32, 32, 3), SMALL_CONV),
        ((48, 48, 3), SMALL_CONV),
        ((64, 32, 1), SMALL_CONV),
        ((64, 64, 1), LARGE_CONV),
        ((64, 64, 3), LARGE_CONV),
        ((128, 96, 3), LARGE_CONV),
    ],
)
def test_the_rule_goes_by_the_shorter_side(shape, stages):
    assert conv_stages(shape) == stages
    assert SMALL_CONV == ((32, 64), 3, 128) and LARGE_CONV == ((32, 32, 64, 64), 4, 256)


def test_at_64x64_the_network_is_the_locatello_encoder_mirrored():
    model = VAE(architecture="conv", image_shape=(64, 64, 1), latent_dim=10)
    assert (model.filters, model.kernel_size, model.hidden_dim) == ((32, 32, 64, 64), 4, 256)
    convs = layers_of(model.encoder, keras.layers.Conv2D)
    assert [tuple(c.kernel.shape) for c in convs] == [(4, 4, 1, 32), (4, 4, 32, 32), (4, 4, 32, 64), (4, 4, 64, 64)]
    assert all(c.strides == (2, 2) and c.padding == "same" for c in convs)
    assert [c.output.shape[1:] for c in convs] == [(32, 32, 32), (16, 16, 32), (8, 8, 64), (4, 4, 64)]
    assert [(d.name, tuple(d.kernel.shape)) for d in layers_of(model.encoder, keras.layers.Dense)] == [
        ("dense", (1024, 256)),
        ("z_mean", (256, 10)),
        ("z_log_var", (256, 10)),
    ]
    # The decoder mirrors it: Dense(256), Dense(4x4x64), transposed 4x4 convs back up to 64x64.
    assert [(d.name, tuple(d.kernel.shape)) for d in layers_of(model.decoder, keras.layers.Dense)] == [
        ("dense", (10, 256)),
        ("project", (256, 1024)),
    ]
    deconvs = layers_of(model.decoder, keras.layers.Conv2DTranspose)
    assert [tuple(d.kernel.shape[:2]) for d in deconvs] == [(4, 4)] * 4 and all(d.strides == (2, 2) for d in deconvs)
    assert [d.output.shape[1:] for d in deconvs] == [(8, 8, 64), (16, 16, 64), (32, 32, 32), (64, 64, 32)]
    (output,) = layers_of(model.decoder, keras.layers.Conv2D)
    assert output.name == "outputs" and tuple(output.kernel.shape) == (4, 4, 32, 1)
    assert model.decoder.output.shape[1:] == (64, 64, 1)
    assert model.get_config()["filters"] == [32, 32, 64, 64]  # the values chosen, so a reload rebuilds them


def test_a_64x64_colour_forward_pass_and_train_step(rng):
    model = VAE(architecture="conv", image_shape=(64, 64, 3), latent_dim=16, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = rng.uniform(size=(4, 64, 64, 3)).astype(np.float32)
    mean, log_var = model.encode(x)
    assert mean.shape == log_var.shape == (4, 16)
    assert model(x).shape == (4, 64, 64, 3) and model.decode(mean).shape == (4, 64, 64, 3)
    logs = model.train_on_batch(x, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    # The four-stage network: 836,515 parameters, where two stages gave 4,292,771.
    assert model.count_params() == 836515
    two_stages = VAE(
        architecture="conv", image_shape=(64, 64, 3), latent_dim=16, filters=[32, 64], kernel_size=3, hidden_dim=128
    )
    assert two_stages.count_params() == 4292771


@pytest.mark.parametrize("entry", CONV_ENTRIES)
def test_28x28_models_are_unchanged(entry):
    assert {key: read_entry(entry)["params"][key] for key in ("filters", "kernel_size", "hidden_dim")} == dict.fromkeys(
        ("filters", "kernel_size", "hidden_dim")
    )
    model = builder.build(entry, compile=False)
    assert model.image_shape == (28, 28, 1)
    assert (model.filters, model.kernel_size, model.hidden_dim) == ((32, 64), 3, 128)
    assert model.count_params() == read_entry(entry)["parameters"]  # conv_vae: 886,881, as shipped


def test_explicit_settings_are_kept_and_each_null_one_is_chosen():
    model = VAE(architecture="conv", image_shape=(64, 64, 3), latent_dim=4, filters=[8, 16], hidden_dim=32)
    assert (model.filters, model.kernel_size, model.hidden_dim) == ((8, 16), 4, 32)
    assert model.chosen_from_image == ("kernel_size",)
    small = VAE(architecture="conv", image_shape=(28, 28, 1), latent_dim=4, kernel_size=5)
    assert (small.filters, small.kernel_size, small.hidden_dim) == ((32, 64), 5, 128)


def test_conv_vae_on_a_folder_of_64x64_photos_gets_the_four_stage_network(tmp_path, rng):
    from PIL import Image

    for i in range(12):
        Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(tmp_path / f"{i:02d}.png")
    model = builder.build("conv_vae", compile=False, dataset=f"folder:{tmp_path}")
    assert model.image_shape == (64, 64, 3)
    assert (model.filters, model.kernel_size, model.hidden_dim) == ((32, 32, 64, 64), 4, 256)
    assert model.count_params() == 836515


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"image_shape": (66, 66, 3)},
            "image sides 66x66 must be divisible by 16 (stride 2 ** 4 conv layers) "
            "(filters, kernel_size, hidden_dim chosen from the image size by conv_stages; "
            "give them explicitly, or use other image sides)",
        ),
        (
            {"image_shape": (30, 30, 1)},
            "image sides 30x30 must be divisible by 4 (stride 2 ** 2 conv layers) "
            "(filters, kernel_size, hidden_dim chosen from the image size by conv_stages; "
            "give them explicitly, or use other image sides)",
        ),
        (
            {"image_shape": (30, 30, 1), "filters": [8, 16], "kernel_size": 3, "hidden_dim": 8},
            "image sides 30x30 must be divisible by 4 (stride 2 ** 2 conv layers)",
        ),
        (
            {"image_shape": (64, 64, 1), "filters": [8] * 7, "kernel_size": 3, "hidden_dim": 8},
            "image sides 64x64 must be divisible by 128 (stride 2 ** 7 conv layers)",
        ),
    ],
)
def test_bad_sizes_are_one_config_error_line(kwargs, message):
    with pytest.raises(ConfigError) as raised:
        VAE(architecture="conv", latent_dim=4, **kwargs)
    assert str(raised.value) == message


def test_the_cli_reports_a_folder_of_bad_sides_in_one_line(cli, tmp_path, rng):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, size=(66, 66, 3), dtype=np.uint8)).save(photos / f"{i:02d}.png")
    code, out, err = cli("train", "conv_vae", "--set", f"dataset=folder:{photos}", "--out", tmp_path / "run")
    assert code == 2 and not (tmp_path / "run").exists()
    assert err.strip().splitlines() == [
        "error: image sides 66x66 must be divisible by 16 (stride 2 ** 4 conv layers) (filters, kernel_size, "
        "hidden_dim chosen from the image size by conv_stages; give them explicitly, or use other image sides)"
    ]
