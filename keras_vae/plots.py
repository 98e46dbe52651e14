"""Pictures: image grids written as PNG files."""

import math

import numpy as np

from keras_vae import runs


def grid(images, columns=None):
    """[N, H, W, C] images in [0, 1] -> one [rows*H, columns*W, C] image, a 1-pixel gap between."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    canvas = np.ones((rows * (height + 1) - 1, columns * (width + 1) - 1, channels), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (height + 1) : r * (height + 1) + height, c * (width + 1) : c * (width + 1) + width] = image
    return canvas


def save_grid(images, path, columns=None):
    """Write images as one PNG grid, pixel for pixel (grayscale for one channel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    canvas = grid(images, columns)
    with runs.atomic(path) as tmp:
        if canvas.shape[-1] == 1:
            plt.imsave(tmp, canvas[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            plt.imsave(tmp, canvas[..., :3])
    return path
