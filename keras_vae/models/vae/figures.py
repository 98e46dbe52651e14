"""The VAEs' own figures (beside the image models' in `keras_vae.models.figures`):

class_samples   one row per class of a conditional model, the same latent draw in each column
manifold        2-D latent space: decoder means over a grid of N(0, 1) quantiles
"""

import numpy as np
import tensorflow_probability as tfp

from keras_vae.core.pictures import Grid

MANIFOLD_SIDE = 20


def quantile_grid(side, low=0.05, high=0.95):
    """[side * side, 2] float32 latent points: the N(0, 1) quantiles of `side` evenly spaced
    probabilities in [low, high] on each axis (Kingma & Welling 2014, figure 4), row-major, z_2
    decreasing down the rows so the picture reads like a plot."""
    q = tfp.distributions.Normal(0.0, 1.0).quantile(np.linspace(low, high, side)).numpy()
    z1, z2 = np.meshgrid(q, q[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=-1).astype(np.float32)


def class_samples(model, seed, columns=8, **_):
    """Grid: one row per class of the model's one condition; column j decodes the same z_j in
    every row."""
    [(key, classes)] = model.condition_classes.items()
    rows = [model.sample(columns, seed=seed, **{key: c}).numpy() for c in range(classes)]
    title = (
        f"Samples per class: row c decodes z ~ N(0, I) with {key} = c (c = 0 at the top); "
        f"each column shares one z, so it keeps its style across classes"
    )
    return Grid(np.concatenate(rows), title, columns=columns)


def manifold(model, **_):
    """Grid: MANIFOLD_SIDE x MANIFOLD_SIDE decoder means of a 2-D latent space, unscaled."""
    title = (
        f"Learned 2-D manifold: decoder means at z = inverse normal CDF of p, p = 0.05..0.95 "
        f"({MANIFOLD_SIDE} steps) on each axis; z1 grows rightwards, z2 upwards"
    )
    images = model.decode(quantile_grid(MANIFOLD_SIDE)).numpy()
    return Grid(images, title, columns=MANIFOLD_SIDE, scale=1)
