"""The ground-truth factors of variation behind a dataset's images (dSprites' shape, scale, ...).

A dataset whose images were drawn from known factors (Matthey et al. 2017's dSprites; the
"ground-truth data" of Locatello et al. 2019, disentanglement_lib's `GroundTruthData`) carries,
for each example, the index of each factor's value (`factors`, int) and the value itself
(`factor_values`, float32), and can draw the images of any factor combination (`images_of`),
which the BetaVAE and FactorVAE scores need.

This module imports only numpy: no TensorFlow.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from keras_vae.core.errors import UserError

KEYS = ("factors", "factor_values")  # the batch keys a dataset with factors adds


@dataclasses.dataclass(frozen=True)
class Factors:
    """The factors of a dataset's train and test examples.

    Args:
        names: each factor's name, e.g. ("color", "shape", "scale", ...): F strings.
        grids: each factor's values, a float array [size_f] per factor (F arrays), in index order.
        train: int [N_train, F], for each train example the index of each factor's value (any
            integer dtype: uint8 keeps dSprites' 597,197 train rows in 3.6 MB).
        test: int [N_test, F], likewise for the test examples.
        images_of: a function (int64 factor indices [n, F]) -> uint8 images [n, H, W, C] drawing
            any combination, or None for a dataset that can only be read.
    """

    names: tuple
    grids: tuple
    train: np.ndarray
    test: np.ndarray
    images_of: Callable | None = None

    def __post_init__(self):
        if len(self.names) != len(self.grids):
            raise UserError(f"{len(self.names)} factor names for {len(self.grids)} value grids")
        for split in ("train", "test"):
            rows = getattr(self, split)
            if rows.ndim != 2 or rows.shape[1] != len(self.names) or not np.issubdtype(rows.dtype, np.integer):
                raise UserError(
                    f"{split} factors must be integers [N, {len(self.names)}], got {rows.dtype} {rows.shape}"
                )
            if len(rows) and ((rows < 0).any() or (rows >= np.asarray(self.sizes)).any()):
                raise UserError(f"{split} factors hold an index outside a factor's grid {self.sizes}")

    @property
    def sizes(self):
        """The number of values of each factor: a tuple of F ints."""
        return tuple(len(grid) for grid in self.grids)

    def of(self, split):
        """int [N, F]: the factor indices of split `split`'s store ("test", else the source's train split)."""
        return self.test if split == "test" else self.train

    def values_of(self, indices):
        """float32 [..., F]: the values of factor indices int [..., F]."""
        indices = np.asarray(indices)
        return np.stack([grid[indices[..., f]] for f, grid in enumerate(self.grids)], axis=-1).astype(np.float32)

    def value_table(self):
        """float32 [F, max size]: row f holds factor f's values, padded with 0: the table the tf.data
        graph gathers `factor_values` from."""
        table = np.zeros((len(self.grids), max(self.sizes)), np.float32)
        for f, grid in enumerate(self.grids):
            table[f, : len(grid)] = grid
        return table
