"""Generated image folders for the bench: JPEG files to time a `folder:PATH` dataset on."""

from pathlib import Path

import numpy as np

JPEG_SIZE = 64  # pixels a side
COARSE = 6  # the random grid each image is smoothed from, COARSE x COARSE x 3


def write_jpegs(folder, n, size=JPEG_SIZE, seed=0, quality=90):
    """Write `n` random smooth RGB images as JPEG files into `folder` (flat: no labels).

    Each image is a random COARSE x COARSE colour grid resized bicubically to `size`, so it
    compresses and decodes like a photograph rather than like noise.

    Args:
        folder: the folder to write into; made if missing.
        n: how many images, >= 1; named 00000.jpg, 00001.jpg, ...
        size: the side in pixels, or (height, width): e.g. (218, 178), CelebA's img_align_celeba.
        seed: the seed of the images (the same seed writes the same files).
        quality: the JPEG quality, 0..100.

    Returns:
        Path: `folder`, for `folder:PATH` (`keras_vae.data.datasets.from_folder`).
    """
    import tensorflow as tf

    height, width = (size, size) if isinstance(size, int) else size
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    coarse = np.random.default_rng(seed).uniform(0, 255, size=(n, COARSE, COARSE, 3)).astype(np.float32)
    for start in range(0, n, 256):  # resize in chunks: a few MB at a time
        images = tf.image.resize(coarse[start : start + 256], [height, width], method="bicubic")
        images = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)
        for offset, image in enumerate(images):
            encoded = tf.io.encode_jpeg(image, quality=quality)
            tf.io.write_file(str(folder / f"{start + offset:05d}.jpg"), encoded)
    return folder
