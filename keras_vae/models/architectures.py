"""The encoder and decoder networks, chosen by name in an entry's config (`architecture`).

An architecture maps images to features (the encoder trunk, before the model's own latent head)
and latent features to one raw output per pixel (the decoder body, before the likelihood). Any
objective takes any architecture: `train beta_vae --set architecture=dense`. To add one (say a
residual network), write its two functions and the parameters it reads, and add it here.

The conv networks fit the image size: a conv setting (filters, kernel_size, hidden_dim) left null
is chosen by `conv_stages(image_shape)`, so one entry gives MNIST's two-stage network at 28x28 and
the four-stage network of Higgins et al. 2017 at 64x64. An explicit value is always kept.
"""

import dataclasses
from collections.abc import Callable

from keras_vae.core.errors import ConfigError
from keras_vae.core.layers import check_conv_shape, conv_decoder_body, conv_trunk, dense_decoder_body, dense_trunk

# The rule of `conv_stages`: (filters, kernel_size, hidden_dim) below and from LARGE_SIDE.
SMALL_CONV = ((32, 64), 3, 128)  # 28x28 MNIST, 32x32 CIFAR: the zoo's shipped conv networks
LARGE_CONV = ((32, 32, 64, 64), 4, 256)  # Higgins et al. 2017, Locatello et al. 2019 (64x64)
LARGE_SIDE = 64


def conv_stages(image_shape):
    """The conv networks' (filters, kernel_size, hidden_dim) for an image shape: what a conv
    setting left null takes.

    The rule, on the shorter side S of the image:
        S < 64:  two stride-2 stages of 32, 64 filters, 3x3 kernels, Dense(128): the networks of
                 the shipped 28x28 entries (a 7x7x64 grid before the Dense layer), unchanged;
        S >= 64: four stride-2 stages of 32, 32, 64, 64 filters, 4x4 kernels, Dense(256): the
                 encoder of Higgins et al. 2017 and Locatello et al. 2019 (a 4x4x64 grid at
                 64x64), mirrored by the decoder (`core.layers.conv_decoder_body`: Dense(256),
                 Dense(4x4x64), transposed convs of 64, 64, 32, 32 filters, then a stride-1 conv
                 to the channels; the papers' decoder has one transposed conv less, 64, 32, 32, C).
    Two stages at 64x64 would leave a 16x16x64 grid, 16384 features into the Dense layer, and as
    many out of the decoder's projection: most of the model's parameters.

    Args:
        image_shape: (H, W, C).

    Returns:
        (filters, kernel_size, hidden_dim): a tuple of ints and two ints.
    """
    return LARGE_CONV if min(image_shape[:2]) >= LARGE_SIDE else SMALL_CONV


def check_conv(model):
    """`check_conv_shape` for the model, saying which settings the image size chose.

    Raises:
        ConfigError: one line, the image sides the conv stages cannot take.
    """
    try:
        check_conv_shape(model.image_shape, model.filters, model.kernel_size)
    except ConfigError as error:
        chosen = getattr(model, "chosen_from_image", ())
        if not chosen:
            raise
        raise ConfigError(
            f"{error} ({', '.join(chosen)} chosen from the image size by conv_stages; "
            "give them explicitly, or use other image sides)"
        ) from None


@dataclasses.dataclass(frozen=True)
class Architecture:
    """trunk(model, images) -> features; decoder(model, h) -> raw outputs of model.image_shape;
    check(model) raises ConfigError for shapes the networks cannot take."""

    trunk: Callable
    decoder: Callable
    check: Callable = lambda model: None
    params: tuple = ()  # the model attributes it reads


ARCHITECTURES = {
    # "dense" with hidden_sizes=[] is one layer each way, the network of the regularized AEs.
    "dense": Architecture(
        trunk=lambda m, images: dense_trunk(images, m.hidden_sizes, m.activation),
        decoder=lambda m, h: dense_decoder_body(h, m.hidden_sizes, m.image_shape, m.activation),
        params=("hidden_sizes", "activation"),
    ),
    "conv": Architecture(
        trunk=lambda m, images: conv_trunk(images, m.filters, m.kernel_size, m.hidden_dim, m.activation),
        decoder=lambda m, h: conv_decoder_body(h, m.filters, m.kernel_size, m.hidden_dim, m.image_shape, m.activation),
        check=check_conv,
        params=("filters", "kernel_size", "hidden_dim", "activation"),
    ),
}
