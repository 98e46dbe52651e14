"""The VAEs' own figures (beside the image models' in `keras_vae.models.figures`):

class_samples   one row per class of a conditional model, the same latent draw in each column
manifold        2-D latent space: decoder means over a grid of N(0, 1) quantiles
traversals      one row per latent dimension, swept over [-2, 2] from a test image's code, rows by KL
                (Higgins et al. 2017, figure 7; disentanglement_lib's visualize_model.py): PNG and GIF
"""

import numpy as np
import tensorflow_probability as tfp

from keras_vae.core.pictures import Animation, Grid, evenly_spaced, subset

MANIFOLD_SIDE = 20
TRAVERSAL_STEPS = 10
TRAVERSAL_BOUND = 2.0  # each dimension swept over [-bound, bound], the prior's +-2 standard deviations
KL_IMAGES = 512  # test images whose mean KL per dimension orders the rows
TITLED_ROWS = 5  # rows whose dimension and KL the title names (the title has two lines)


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


def traversal_codes(code, order, steps=TRAVERSAL_STEPS, bound=TRAVERSAL_BOUND):
    """float32 [len(order), steps, d]: row r is `code` ([d]) with dimension order[r] replaced by
    np.linspace(-bound, bound, steps), every other dimension kept."""
    z = np.repeat(np.asarray(code, np.float32)[None, None], len(order), axis=0).repeat(steps, axis=1)
    for row, dim in enumerate(order):
        z[row, :, dim] = np.linspace(-bound, bound, steps, dtype=np.float32)
    return z


def kl_order(model, examples):
    """(order, kl): the latent dimensions by their KL(q(z_i|x) || p(z_i)) averaged over up to
    KL_IMAGES test images (nats per image), largest first; kl: float64 [d] in dimension order."""
    some = subset(examples, evenly_spaced(len(examples["images"]), KL_IMAGES))
    kl = np.asarray(model.loss_terms(some)["kl_per_dim"], np.float64).mean(axis=0)
    return np.argsort(-kl, kind="stable"), kl


def traversals(model, examples, **_):
    """(Grid, Animation): one row per latent dimension (rows ordered by KL, largest first), the
    decoder means along that dimension's sweep from the code (posterior mean) of the middle test
    image; the GIF steps through the sweep and back, one picture per dimension."""
    order, kl = kl_order(model, examples)
    middle = subset(examples, [len(examples["images"]) // 2])
    code = np.asarray(model.code(middle))[0]
    z = traversal_codes(code, order)
    rows = model.decode(z.reshape(-1, model.latent_dim), **model.conditions(middle)).numpy()
    rows = rows.reshape(len(order), TRAVERSAL_STEPS, *model.image_shape)
    ranked = ", ".join(f"z{dim} {kl[dim]:.2f}" for dim in order[:TITLED_ROWS])
    more = ", ..." if len(order) > TITLED_ROWS else ""
    title = (
        f"Latent traversals over [-{TRAVERSAL_BOUND:g}, {TRAVERSAL_BOUND:g}] from a test image's code, "
        f"one dimension a row, by KL (nats): {ranked}{more}"
    )
    frames = [*range(TRAVERSAL_STEPS), *range(TRAVERSAL_STEPS - 2, 0, -1)]  # there and back
    values = np.linspace(-TRAVERSAL_BOUND, TRAVERSAL_BOUND, TRAVERSAL_STEPS)
    animation = Animation(
        [rows[:, step] for step in frames],
        columns=min(len(order), 10),
        title="Latent traversals, one picture per dimension (ordered by KL)",
        captions=tuple(f"each dimension at {values[step]:+.2f}, the others at the code" for step in frames),
    )
    return Grid(rows.reshape(-1, *model.image_shape), title, columns=TRAVERSAL_STEPS), animation
