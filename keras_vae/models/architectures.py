"""Architecture mixins: the networks, apart from the objective.

`class DenseVAE(DenseNets, VAE)` takes its encoder trunk and decoder from `DenseNets` and its
loss from `VAE`; every objective can be paired with either architecture without new code.
"""

from keras_vae.layers import check_conv_shape, conv_decoder, conv_trunk, dense_decoder, dense_trunk
from keras_vae.models.checks import positive_ints


class DenseNets:
    """MLP encoder trunk and its mirrored decoder."""

    def __init__(self, hidden_sizes=(512, 256), **kwargs):
        self.hidden_sizes = positive_ints("hidden_sizes", hidden_sizes)
        super().__init__(**kwargs)

    def encoder_trunk(self):
        return dense_trunk(self.image_shape, self.hidden_sizes)

    def build_decoder(self):
        return dense_decoder(self.latent_dim, self.hidden_sizes, self.image_shape)


class ConvNets:
    """Strided Conv2D encoder trunk and a mirrored Conv2DTranspose decoder."""

    def __init__(self, filters=(32, 64), kernel_size=3, hidden_dim=128, **kwargs):
        self.filters = positive_ints("filters", filters)
        (self.hidden_dim,) = positive_ints("hidden_dim", [hidden_dim])
        (self.kernel_size,) = positive_ints("kernel_size", [kernel_size])
        super().__init__(**kwargs)

    def encoder_trunk(self):
        check_conv_shape(self.image_shape, self.filters, self.kernel_size)
        return conv_trunk(self.image_shape, self.filters, self.kernel_size, self.hidden_dim)

    def build_decoder(self):
        return conv_decoder(
            self.latent_dim, self.filters, self.kernel_size, self.hidden_dim, self.image_shape
        )
