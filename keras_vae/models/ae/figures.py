"""The denoising autoencoder's figure: what it makes of corrupted test inputs."""

import numpy as np

from keras_vae.core.pictures import Grid
from keras_vae.models.figures import inputs_name, shown


def denoising(model, examples, **_):
    """Grid: corrupted test inputs (top), the clean ones (middle), the output from the corrupted
    ones (bottom); the corruption noise comes from the model's generator."""
    batch = shown(model, examples)
    noisy = model.corrupt(batch["images"])
    title = (
        f"Denoising: corrupted {inputs_name(model)} (top), the clean inputs (middle), the output "
        f"from the corrupted ones (bottom)"
    )
    rows = [noisy, batch["images"], model.reconstruct({**batch, "images": noisy})]
    return Grid(np.concatenate(rows), title, columns=len(noisy))
