"""The encoder and decoder networks, chosen by name in an entry's config (`architecture`).

An architecture maps images to features (the encoder trunk, before the model's own latent head)
and latent features to one raw output per pixel (the decoder body, before the likelihood). Any
objective takes any architecture: `train beta_vae --set architecture=dense`. To add one (say a
residual network), write its two functions and the parameters it reads, and add it here.
"""

import dataclasses
from typing import Callable

from keras_vae.core.layers import check_conv_shape, conv_decoder_body, conv_trunk, dense_decoder_body, dense_trunk


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
        decoder=lambda m, h: conv_decoder_body(h, m.filters, m.kernel_size, m.hidden_dim, m.image_shape,
                                               m.activation),
        check=lambda m: check_conv_shape(m.image_shape, m.filters, m.kernel_size),
        params=("filters", "kernel_size", "hidden_dim", "activation"),
    ),
}
