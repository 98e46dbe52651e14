"""The pictures of a trained run (`python -m keras_vae.zoo plot RUN_DIR`): titled PNG files.

A model lists the figures that apply to it (`model.figures`) and the file each goes to
(`model.figure_file`). Its family draws its own figures (`model.draw_figure`: reconstructions,
latent spaces, codebook usage, rollouts, ...; see the `figures` module of each family under
keras_vae/models/) as pictures (`keras_vae.core.pictures`), which this module writes with
`keras_vae.runner.plots`. Drawn here, from what every ZooModel declares:

prior_samples     decoded draws from the prior (`model.sample`, described by `prior_description`)
training_curves   the run's per-epoch history (every run that has one)
"""

import contextlib
import filecmp
import os
import shutil
import tempfile
from pathlib import Path

from keras_vae.core import pictures
from keras_vae.core.errors import UserError
from keras_vae.data import datasets
from keras_vae.runner import loading, plots, runs
from keras_vae.runner.evaluate import seeded_noise

SAMPLES = 64


def prior_samples(model, seed, **_):
    """Grid: SAMPLES decoded draws from the model's prior, 8 a row."""
    title = f"{SAMPLES} samples from the prior: {model.prior_description}"
    return pictures.Grid(model.sample(SAMPLES, seed=seed).numpy(), title, columns=8)


GENERIC = {"prior_samples": prior_samples}  # figures any model with a prior has

CURVES = "training_curves.png"


def save(picture, path):
    """Write one picture (`keras_vae.core.pictures`) to `path`; returns the path written."""
    if isinstance(picture, pictures.Grid):
        return plots.save_titled_grid(picture.images, path, picture.title, columns=picture.columns, scale=picture.scale)
    if isinstance(picture, pictures.Bars):
        return plots.save_bars(picture.panels, path, picture.title, picture.xlabel, picture.ylabel)
    if isinstance(picture, pictures.Scatter):
        return plots.save_scatter(picture.points, picture.labels, path, picture.title, picture.xlabel, picture.ylabel)
    if isinstance(picture, pictures.Animation):
        return plots.save_gif(
            picture.pictures,
            path.with_suffix(".gif"),
            columns=picture.columns,
            title=picture.title,
            row_labels=picture.row_labels,
            captions=picture.captions,
        )
    raise TypeError(f"not a picture: {type(picture).__name__}")


def draw(name, model, out, examples=None, seed=0, prefix=""):
    """Draw figure `name` of `model` into `out`.

    Args:
        name: one of `model.figures`.
        model: a ZooModel.
        out: pathlib.Path of an existing folder.
        examples: the test split ({batch key: array [N, ...]}) for figures that show data.
        seed: int; the model's noise (corruption) and its samples repeat for the same seed.
        prefix: put before the file name (`sample` writes samples_rollouts.png beside plot's
            rollouts.png).

    Returns:
        The path of the figure's file, `out / (prefix + model.figure_file(name))` (a figure with
        an animation also writes the GIF beside it).
    """
    path = out / f"{prefix}{model.figure_file(name)}"
    with seeded_noise(model, seed):  # corruption and samples repeat
        if name in GENERIC:
            drawn = GENERIC[name](model=model, examples=examples, seed=seed)
        else:
            drawn = model.draw_figure(name, examples=examples, seed=seed)
        written = [save(picture, path) for picture in (drawn if isinstance(drawn, tuple) else (drawn,))]
    return written[0]


@contextlib.contextmanager
def staged(out, overwrite=False):
    """Yield a hidden staging folder inside `out` to draw into; then settle each file it holds
    into `out`: a new name is moved in ("wrote"), a file identical to the one there is left as it
    was ("already there"), and one that differs (the model was trained further, say) is refused
    unless overwrite, before anything is moved. The staging folder is removed in every case.

    Yields:
        (staging folder, report): report is filled with (word, path) pairs, word "wrote",
        "replaced" or "already there", in file-name order, once the block has finished.
    """
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".draw-", dir=out))
    report = []
    try:
        yield staging, report
        drawn = sorted(p for p in staging.iterdir() if p.is_file())
        same = {p.name for p in drawn if (out / p.name).is_file() and filecmp.cmp(p, out / p.name, shallow=False)}
        differ = [p.name for p in drawn if (out / p.name).exists() and p.name not in same]
        if differ and not overwrite:
            raise UserError(
                f"{out} already holds {', '.join(differ)}, drawn with the same settings but different "
                "(the model or its history changed?); pass --overwrite to replace them"
            )
        for path in drawn:
            if path.name in same:
                report.append(("already there:", out / path.name))
            else:
                word = "replaced" if (out / path.name).exists() else "wrote"
                os.replace(path, out / path.name)
                report.append((word, out / path.name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def plot_run(run_dir, dataset=None, out=None, seed=0, overwrite=False):
    """Write every figure the run's model declares, and its training curves, into `out`;
    returns [(word, path)] as `staged` reports them ("wrote", "already there:", "replaced").

    A figure drawn with other settings than the defaults (seed 0, the run's own dataset) says them
    in its name (reconstructions_seed1.png, ..._onfashion_mnist.png), so a second plot with other
    settings adds files beside the first; the same settings give the same names, and a file that
    differs from the one already there is replaced only with overwrite.
    """
    run_dir = runs.check_run_dir(run_dir)  # a zoo entry name means its shipped run
    config = runs.read_config(run_dir)
    model = loading.load_run_model(run_dir)
    data = datasets.load(dataset or config.dataset, image_size=config.image_size, crop=config.crop)
    data.check_fits(model)
    out = runs.output_dir(run_dir, out)  # never into a shipped zoo entry
    other = data.name if dataset and dataset != config.dataset else None
    tag = runs.suffix(seed=seed or None, on=other)
    examples = data.examples("test")
    with staged(out, overwrite) as (staging, report):
        for name in model.figures:
            written = draw(name, model, staging, examples, seed)
            for extra in sorted(staging.glob(f"{written.stem}.*")):
                extra.rename(staging / f"{extra.stem}{tag}{extra.suffix}")
        if (run_dir / runs.HISTORY).is_file():
            history = runs.read_json(run_dir / runs.HISTORY)
            training_curves(history, model.evaluated_names, config, staging / CURVES, model.term_docs)
    return report


def training_curves(history, names, config, path, docs=None):
    """The model's evaluated terms (not beta_vae's per-dimension KLs), loss first; each panel's
    y axis says its units (`docs`: the model's `term_docs`, e.g. "nats per example")."""
    names = [n for n in names if n in history[0]]
    # Runs from before the validation split validated on the test split.
    held_out = "validation" if config.validation_fraction else "test"
    title = (
        f"Training curves of {config.entry or 'the run'} on {config.dataset}: per-epoch means, "
        f"train and {held_out} split"
    )
    units = {name: docs[name].units for name in names if docs and name in docs}
    return plots.save_curves(history, names, path, title, held_out, units)
