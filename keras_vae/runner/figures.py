"""The pictures of a trained run (`python -m keras_vae.zoo plot RUN_DIR`): titled PNG files.

A model lists the figures that apply to it (`model.figures`); this module knows how to draw each:

reconstructions   test inputs above their reconstructions
denoising         corrupted inputs, the clean inputs and the output from the corrupted ones
prior_samples     decoded draws from the prior (`model.sample`, described by `prior_description`)
codebook_usage    how often the encoder assigns each code of a VQ model's codebook on the test split
class_samples     one row per class of a conditional model, the same latent draw in each column
manifold          2-D latent space: decoder means over a grid of N(0, 1) quantiles
latent_space      the test set's codes coloured by label (latent_scatter.png, <= 2-D), or a 2-D
                  PCA of them (latent_pca.png)
interpolation     decoded straight lines in latent space between pairs of test images
rollouts          sequence models: true frames above the model's rollouts from the last observed
                  frames (rollouts.png), and the same as an animated GIF (rollouts.gif)
training_curves   the run's per-epoch history (every run that has one)
"""

import numpy as np
import tensorflow_probability as tfp

from keras_vae.data import datasets
from keras_vae.runner import plots
from keras_vae.runner import runs
from keras_vae.runner import loading
from keras_vae.core.errors import UserError
from keras_vae.runner.evaluate import seeded_noise, slices

SHOWN = 10  # test images in the reconstruction figure
SAMPLES = 64
MANIFOLD_SIDE = 20
PAIRS, STEPS = 6, 8


def evenly_spaced(n, count):
    """`count` indices spread over range(n): the test splits are often sorted by label."""
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(int))


def subset(examples, indices):
    return {key: value[indices] for key, value in examples.items()}


def quantile_grid(side, low=0.05, high=0.95):
    """[side * side, 2] latent points: the N(0, 1) quantiles of `side` evenly spaced probabilities
    in [low, high] on each axis (Kingma & Welling 2014, figure 4), row-major, z_2 decreasing down
    the rows so the picture reads like a plot."""
    q = tfp.distributions.Normal(0.0, 1.0).quantile(np.linspace(low, high, side)).numpy()
    z1, z2 = np.meshgrid(q, q[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=-1).astype(np.float32)


def latent_codes(model, examples, batch_size=256):
    """The code of every example (a VAE's posterior mean), [N, latent_dim]."""
    return np.concatenate([model.code(batch).numpy() for batch in slices(examples, batch_size)])


def shown(model, examples):
    """SHOWN test examples, their images as the model's targets (binarized if it binarizes)."""
    batch = subset(examples, evenly_spaced(len(examples["images"]), SHOWN))
    return {**batch, "images": model.targets(batch["images"], training=False)}


def inputs_name(model):
    return "binarized test inputs" if model.binarize else "test inputs"


def reconstructions(model, examples, path, **_):
    batch = shown(model, examples)
    title = f"Reconstructions: {inputs_name(model)} (top) and the decoder mean at the code (bottom)"
    rows = [batch["images"], model.reconstruct(batch)]
    return plots.save_titled_grid(np.concatenate(rows), path, title, columns=len(batch["images"]))


def denoising(model, examples, path, **_):
    batch = shown(model, examples)
    noisy = model.corrupt(batch["images"])
    title = (f"Denoising: corrupted {inputs_name(model)} (top), the clean inputs (middle), the output "
             f"from the corrupted ones (bottom)")
    rows = [noisy, batch["images"], model.reconstruct({**batch, "images": noisy})]
    return plots.save_titled_grid(np.concatenate(rows), path, title, columns=len(noisy))


def prior_samples(model, path, seed, **_):
    title = f"{SAMPLES} samples from the prior: {model.prior_description}"
    return plots.save_titled_grid(model.sample(SAMPLES, seed=seed).numpy(), path, title, columns=8)


def codebook_usage(model, examples, path, **_):
    """One histogram per codebook of the model (`model.code_levels`: a VQ-VAE-2 has two)."""
    levels = {}
    for batch in slices(examples, 256):
        for level, (codes, num_codes) in model.code_levels(batch["images"]).items():
            levels.setdefault(level, (num_codes, []))[1].append(codes.numpy().ravel())
    counts = {level: np.bincount(np.concatenate(codes), minlength=num_codes) for level, (num_codes, codes) in levels.items()}
    panels = {f"{level}: {np.count_nonzero(c)} of {len(c)} used, {c.sum()} assignments": c for level, c in counts.items()}
    title = "Codebook usage on the test split: how often each code is assigned"
    return plots.save_bars(panels, path, title, "code", "assignments")


def class_samples(model, path, seed, columns=8, **_):
    """One row per class of each condition; column j decodes the same z_j in every row."""
    [(key, classes)] = model.condition_classes.items()
    rows = [model.sample(columns, seed=seed, **{key: c}).numpy() for c in range(classes)]
    title = (f"Samples per class: row c decodes z ~ N(0, I) with {key} = c (c = 0 at the top); "
             f"each column shares one z, so it keeps its style across classes")
    return plots.save_titled_grid(np.concatenate(rows), path, title, columns=columns)


def manifold(model, path, **_):
    title = (f"Learned 2-D manifold: decoder means at z = inverse normal CDF of p, p = 0.05..0.95 "
             f"({MANIFOLD_SIDE} steps) on each axis; z1 grows rightwards, z2 upwards")
    images = model.decode(quantile_grid(MANIFOLD_SIDE)).numpy()
    return plots.save_titled_grid(images, path, title, columns=MANIFOLD_SIDE, scale=1)


def latent_space(model, examples, path, **_):
    """The codes coloured by label: a scatter up to 2-D, a 2-D PCA above."""
    codes = latent_codes(model, examples)
    labels = examples.get("labels", np.zeros(len(codes), np.int64))
    n, dims = codes.shape
    coloured = "coloured by label" if "labels" in examples else "(no labels)"
    if dims <= 2:
        if dims == 1:
            return plots.save_scatter(np.stack([codes[:, 0], labels], -1), labels, path,
                                      f"Test set codes (1-D) against the label, {n} images", "z", "label")
        return plots.save_scatter(codes, labels, path, f"Test set codes, {coloured}, {n} images", "z1", "z2")
    centred = codes - codes.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    share = singular**2 / np.sum(singular**2)
    title = (f"2-D PCA of the test set's {dims}-D codes, {coloured}, {n} images "
             f"(the two components hold {share[0]:.0%} and {share[1]:.0%} of the variance)")
    return plots.save_scatter(centred @ axes[:2].T, labels, path, title, "PC 1", "PC 2")


def interpolation(model, examples, path, **_):
    n = len(examples["images"])
    first = evenly_spaced(n, PAIRS)
    # An offset of 2/5 of the split pairs different classes, no pair twice, in a label-sorted split.
    a, b = subset(examples, first), subset(examples, (first + 2 * n // 5) % n)
    z_a, z_b = model.code(a).numpy(), model.code(b).numpy()
    t = np.linspace(0.0, 1.0, STEPS, dtype=np.float32)[None, :, None]
    z = (z_a[:, None] * (1 - t) + z_b[:, None] * t).reshape(-1, model.latent_dim)
    between = model.decode(z).numpy().reshape(len(first), STEPS, *model.image_shape)
    rows = np.concatenate([a["images"][:, None], between, b["images"][:, None]], axis=1)
    title = (f"Interpolation between pairs of test images (first and last column): decoder means "
             f"along the straight line between their codes, {STEPS} steps")
    return plots.save_titled_grid(rows.reshape(-1, *model.image_shape), path, title, columns=STEPS + 2)


ROLLOUTS, OBSERVED_SHOWN, ANIMATED = 6, 3, 4  # sequences drawn, observed frames shown, sequences in the GIF


def rollouts(model, examples, path, seed, **_):
    """Pairs of rows: a test sequence's true frames, then the model's rollout (model.sample with
    the observed frames); the first columns are the last observed frames. Also path.gif."""
    frames = examples["frames"]
    frames = frames[evenly_spaced(len(frames), ROLLOUTS)]
    k, steps = model.context, model.horizon
    predicted = model.sample(len(frames), seed=seed, frames=frames[:, :k]).numpy()
    shown_seen = min(OBSERVED_SHOWN, k)
    seen = frames[:, k - shown_seen : k]
    rows = np.stack([np.concatenate([seen, frames[:, k : k + steps]], 1), np.concatenate([seen, predicted], 1)], 1)
    title = (f"Rollouts after {k} observed frames: truth (top) and rollout (bottom) row pairs; "
             f"{shown_seen} observed columns, then 1..{steps} frames ahead")
    columns = shown_seen + steps
    written = plots.save_titled_grid(rows.reshape(-1, *frames.shape[2:]), path, title, columns=columns)
    shown = min(ANIMATED, len(frames))  # GIF: truth (top row) and rollout (bottom row) over time
    movie = [np.concatenate([frames[:shown, t], frames[:shown, t] if t < k else predicted[:shown, t - k]])
             for t in range(k + steps)]
    plots.save_gif(movie, path.with_suffix(".gif"), columns=shown)
    return written


DRAWERS = {
    "reconstructions": reconstructions,
    "denoising": denoising,
    "prior_samples": prior_samples,
    "codebook_usage": codebook_usage,
    "class_samples": class_samples,
    "manifold": manifold,
    "latent_space": latent_space,
    "interpolation": interpolation,
    "rollouts": rollouts,
}


CURVES = "training_curves.png"


def figure_file(name, model):
    """The file figure `name` goes to: <name>.png, but a denoiser's figure is its
    reconstructions, and the latent space is a scatter up to 2-D, a PCA above."""
    if name == "latent_space":
        return "latent_scatter.png" if model.latent_dim <= 2 else "latent_pca.png"
    return {"denoising": "reconstructions.png"}.get(name, f"{name}.png")


def draw(name, model, out, examples=None, seed=0, prefix=""):
    """Draw figure `name` of `model` into `out` (its file named with `prefix`: `sample` writes
    samples_rollouts.png beside plot's rollouts.png); returns the path written."""
    with seeded_noise(model, seed):  # corruption and samples repeat
        return DRAWERS[name](model=model, examples=examples, path=out / f"{prefix}{figure_file(name, model)}", seed=seed)


def check_no_earlier_plot(out, files, overwrite):
    """Refuse to replace `files` of an earlier plot in `out` unless overwrite."""
    if not overwrite and (earlier := sorted(name for name in files if (out / name).exists())):
        raise UserError(f"{out} already holds {', '.join(earlier)} from an earlier plot; pass --overwrite to replace them")


def plot_run(run_dir, dataset=None, out=None, seed=0, overwrite=False):
    """Write every figure the run's model declares, and its training curves; returns the paths.
    PNG files of an earlier plot are replaced only with overwrite."""
    run_dir = runs.check_run_dir(run_dir)  # a zoo entry name means its shipped run
    config = runs.read_config(run_dir)
    model = loading.load_run_model(run_dir)
    data = datasets.load(dataset or config.dataset)
    data.check_fits(model)
    out = runs.output_dir(run_dir, out)  # never into a shipped zoo entry
    check_no_earlier_plot(out, [figure_file(name, model) for name in model.figures] + [CURVES], overwrite)
    out.mkdir(parents=True, exist_ok=True)
    examples = data.examples("test")
    written = [draw(name, model, out, examples, seed) for name in model.figures]
    if (run_dir / runs.HISTORY).is_file():
        history = runs.read_json(run_dir / runs.HISTORY)
        written.append(training_curves(history, model.evaluated_names, config, out / CURVES))
    return written


def training_curves(history, names, config, path):
    """The model's evaluated terms (not beta_vae's per-dimension KLs), loss first."""
    names = [n for n in names if n in history[0]]
    # Runs from before the validation split validated on the test split.
    held_out = "validation" if config.validation_fraction else "test"
    title = (f"Training curves of {config.entry or 'the run'} on {config.dataset}: per-epoch means, "
             f"train and {held_out} split")
    return plots.save_curves(history, names, path, title, held_out)
