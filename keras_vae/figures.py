"""The pictures of a trained run (`python -m keras_vae.zoo plot RUN_DIR`): titled PNG files.

reconstructions.png   test inputs above their reconstructions (denoising: noisy / clean / output)
prior_samples.png     decoded draws from the prior (generative models)
manifold.png          2-D latent space: decoder means over a grid of N(0, 1) quantiles
latent_scatter.png    2-D latent space: the test set's latent means, coloured by label
latent_pca.png        larger latent spaces: the same after a 2-D PCA
interpolation.png     decoded straight lines in latent space between pairs of test images
training_curves.png   the run's per-epoch history
"""

import numpy as np
import tensorflow_probability as tfp

from keras_vae import data as datasets
from keras_vae import plots, runs
from keras_vae.evaluate import PER_DIMENSION, seeded_noise
from keras_vae.models.base import VAE

SHOWN = 10  # test images in the reconstruction figure
SAMPLES = 64
MANIFOLD_SIDE = 20
PAIRS, STEPS = 6, 8


def evenly_spaced(n, count):
    """`count` indices spread over range(n): the test splits are often sorted by label."""
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(int))


def quantile_grid(side, low=0.05, high=0.95):
    """[side * side, 2] latent points: the N(0, 1) quantiles of `side` evenly spaced probabilities
    in [low, high] on each axis (Kingma & Welling 2014, figure 4), row-major, z_2 decreasing down
    the rows so the picture reads like a plot."""
    q = tfp.distributions.Normal(0.0, 1.0).quantile(np.linspace(low, high, side)).numpy()
    z1, z2 = np.meshgrid(q, q[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=-1).astype(np.float32)


def latent_codes(model, images, batch_size=256):
    """The code of every image (a VAE's posterior mean), [N, latent_dim]."""
    return np.concatenate([model.code(images[i : i + batch_size]).numpy() for i in range(0, len(images), batch_size)])


def reconstructions(model, images, path):
    x = model.targets(images[evenly_spaced(len(images), SHOWN)], training=False)
    inputs = "binarized test inputs" if model.binarize else "test inputs"
    if hasattr(model, "corrupt"):
        noisy = model.corrupt(x)
        rows = [noisy, x, model.decode(model.code(noisy))]
        title = f"Denoising: corrupted {inputs} (top), the clean inputs (middle), the output from the corrupted ones (bottom)"
    else:
        rows = [x, model.decode(model.code(x))]
        at = "the posterior mean" if isinstance(model, VAE) else "the code"
        title = f"Reconstructions: {inputs} (top) and the decoder mean at {at} (bottom)"
    return plots.save_titled_grid(np.concatenate(rows), path, title, columns=len(x))


def prior_samples(model, path, seed):
    title = f"{SAMPLES} samples from the prior: decoder means of z ~ N(0, I), {model.latent_dim}-D latent space"
    return plots.save_titled_grid(model.sample(SAMPLES, seed=seed).numpy(), path, title, columns=8)


def manifold(model, path):
    title = (f"Learned 2-D manifold: decoder means at z = inverse normal CDF of p, p = 0.05..0.95 "
             f"({MANIFOLD_SIDE} steps) on each axis; z1 grows rightwards, z2 upwards")
    images = model.decode(quantile_grid(MANIFOLD_SIDE)).numpy()
    return plots.save_titled_grid(images, path, title, columns=MANIFOLD_SIDE, scale=1)


def latent_scatter(model, images, labels, path):
    codes = latent_codes(model, images)
    what = "latent means" if isinstance(model, VAE) else "codes"
    n = len(codes)
    if model.latent_dim == 1:
        return plots.save_scatter(np.stack([codes[:, 0], labels], -1), labels, path,
                                  f"Test set {what} (1-D) against the label, {n} images", "z", "label")
    if model.latent_dim == 2:
        return plots.save_scatter(codes, labels, path, f"Test set {what}, coloured by label, {n} images", "z1", "z2")
    centred = codes - codes.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    share = singular**2 / np.sum(singular**2)
    title = (f"2-D PCA of the test set's {model.latent_dim}-D {what}, coloured by label, {n} images "
             f"(the two components hold {share[0]:.0%} and {share[1]:.0%} of the variance)")
    return plots.save_scatter(centred @ axes[:2].T, labels, path, title, "PC 1", "PC 2")


def interpolation(model, images, path):
    first = evenly_spaced(len(images), PAIRS)
    # An offset of 2/5 of the split pairs different classes, no pair twice, in a label-sorted split.
    x_a, x_b = images[first], images[(first + 2 * len(images) // 5) % len(images)]
    z_a, z_b = model.code(x_a).numpy(), model.code(x_b).numpy()
    t = np.linspace(0.0, 1.0, STEPS, dtype=np.float32)[None, :, None]
    z = (z_a[:, None] * (1 - t) + z_b[:, None] * t).reshape(-1, model.latent_dim)
    between = model.decode(z).numpy().reshape(len(first), STEPS, *model.image_shape)
    rows = np.concatenate([x_a[:, None], between, x_b[:, None]], axis=1).reshape(-1, *model.image_shape)
    code = "latent means" if isinstance(model, VAE) else "codes"
    title = (f"Interpolation between pairs of test images (first and last column): decoder means "
             f"along the straight line between their {code}, {STEPS} steps")
    return plots.save_titled_grid(rows, path, title, columns=STEPS + 2)


FIGURES = ("reconstructions.png", "prior_samples.png", "manifold.png", "latent_scatter.png", "latent_pca.png",
           "interpolation.png", "training_curves.png")


def check_no_earlier_plot(out, overwrite):
    """Refuse to replace PNG files of an earlier plot in `out` unless overwrite."""
    from keras_vae.errors import UserError

    if not overwrite and (earlier := sorted(p.name for p in out.glob("*.png") if p.name in FIGURES)):
        raise UserError(f"{out} already holds {', '.join(earlier)} from an earlier plot; pass --overwrite to replace them")


def plot_run(run_dir, dataset=None, out=None, seed=0, overwrite=False):
    """Write every picture that applies to the run's model; returns the paths written. PNG files of
    an earlier plot are replaced only with overwrite."""
    run_dir = runs.check_run_dir(run_dir)  # a zoo entry name means its shipped run
    config = runs.read_config(run_dir)
    model = runs.load_run_model(run_dir)
    data = datasets.load(dataset or config["dataset"])
    data.check_fits(model.image_shape)
    out = runs.output_dir(run_dir, out)  # never into a shipped zoo entry
    check_no_earlier_plot(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    images, labels = data.x_test, data.y_test
    with seeded_noise(model, seed):  # the corruption repeats
        written = [reconstructions(model, images, out / "reconstructions.png")]
    if hasattr(model, "sample"):
        written.append(prior_samples(model, out / "prior_samples.png", seed))
        if model.latent_dim == 2:
            written.append(manifold(model, out / "manifold.png"))
    scatter = "latent_scatter.png" if model.latent_dim <= 2 else "latent_pca.png"
    written.append(latent_scatter(model, images, labels, out / scatter))
    written.append(interpolation(model, images, out / "interpolation.png"))
    if (run_dir / runs.HISTORY).is_file():
        written.append(training_curves(runs.read_json(run_dir / runs.HISTORY), config, out / "training_curves.png"))
    return written


def training_curves(history, config, path):
    """Every logged metric but the per-dimension KLs (beta_vae's kl_0, kl_1, ...), loss first."""
    names = [n for n in history[0] if n not in ("epoch", "seconds") and not n.startswith("val_")]
    names = sorted((n for n in names if not PER_DIMENSION.match(n)), key=lambda n: n != "loss")
    title = f"Training curves of {config.get('entry', 'the run')} on {config['dataset']}: per-epoch means, train and test split"
    return plots.save_curves(history, names, path, title)
