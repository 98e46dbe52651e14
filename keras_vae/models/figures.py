"""The figures of the image models (`ImageModel`, `Autoencoder`), as pictures
(`keras_vae.core.pictures`) that `keras_vae.runner.figures` writes:

reconstructions   test inputs above their reconstructions (`reconstruct`)
latent_space      the test set's codes coloured by label: a scatter up to 2-D
                  (latent_scatter.png), a 2-D PCA above (latent_pca.png)
interpolation     decoded straight lines in latent space between pairs of test images
"""

import numpy as np

from keras_vae.core.pictures import Grid, Scatter, evenly_spaced, slices, subset

SHOWN = 10  # test images in the reconstruction figure
PAIRS, STEPS = 6, 8


def shown(model, examples):
    """SHOWN test examples, their images as the model's targets (binarized if it binarizes)."""
    batch = subset(examples, evenly_spaced(len(examples["images"]), SHOWN))
    return {**batch, "images": model.targets(batch["images"], training=False)}


def inputs_name(model):
    """How the figure titles call the images shown: binarized or not."""
    return "binarized test inputs" if model.binarize else "test inputs"


def reconstructions(model, examples, **_):
    """Grid: SHOWN test inputs (top row) above the decoder mean at their codes (bottom row)."""
    batch = shown(model, examples)
    title = f"Reconstructions: {inputs_name(model)} (top) and the decoder mean at the code (bottom)"
    rows = [batch["images"], model.reconstruct(batch)]
    return Grid(np.concatenate(rows), title, columns=len(batch["images"]))


def latent_codes(model, examples, batch_size=256):
    """The code of every example (a VAE's posterior mean), float32 [N, latent_dim]."""
    return np.concatenate([model.code(batch).numpy() for batch in slices(examples, batch_size)])


def latent_file(model):
    """latent_scatter.png for a code of at most 2 dimensions, latent_pca.png above."""
    return "latent_scatter.png" if model.latent_dim <= 2 else "latent_pca.png"


def latent_space(model, examples, **_):
    """Scatter: the codes coloured by label, up to 2-D; a 2-D PCA of them above."""
    codes = latent_codes(model, examples)
    labels = examples.get("labels", np.zeros(len(codes), np.int64))
    n, dims = codes.shape
    coloured = "coloured by label" if "labels" in examples else "(no labels)"
    if dims <= 2:
        if dims == 1:
            return Scatter(
                np.stack([codes[:, 0], labels], -1),
                labels,
                f"Test set codes (1-D) against the label, {n} images",
                "z",
                "label",
            )
        return Scatter(codes, labels, f"Test set codes, {coloured}, {n} images", "z1", "z2")
    centred = codes - codes.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    share = singular**2 / np.sum(singular**2)
    title = (
        f"2-D PCA of the test set's {dims}-D codes, {coloured}, {n} images "
        f"(the two components hold {share[0]:.0%} and {share[1]:.0%} of the variance)"
    )
    return Scatter(centred @ axes[:2].T, labels, title, "PC 1", "PC 2")


def interpolation(model, examples, **_):
    """Grid: PAIRS rows, each a test image, STEPS decoded points between the codes, another."""
    n = len(examples["images"])
    first = evenly_spaced(n, PAIRS)
    # An offset of 2/5 of the split pairs different classes, no pair twice, in a label-sorted split.
    a, b = subset(examples, first), subset(examples, (first + 2 * n // 5) % n)
    z_a, z_b = model.code(a).numpy(), model.code(b).numpy()
    t = np.linspace(0.0, 1.0, STEPS, dtype=np.float32)[None, :, None]
    z = (z_a[:, None] * (1 - t) + z_b[:, None] * t).reshape(-1, model.latent_dim)
    between = model.decode(z).numpy().reshape(len(first), STEPS, *model.image_shape)
    rows = np.concatenate([a["images"][:, None], between, b["images"][:, None]], axis=1)
    title = (
        f"Interpolation between pairs of test images (first and last column): decoder means "
        f"along the straight line between their codes, {STEPS} steps"
    )
    return Grid(rows.reshape(-1, *model.image_shape), title, columns=STEPS + 2)
