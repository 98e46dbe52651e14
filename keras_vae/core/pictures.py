"""What a figure shows, as data: the drawers of the model families return these, and
`keras_vae.runner.figures` writes them (titled PNG files, GIFs) with `keras_vae.runner.plots`.

A drawer is `drawer(model, examples, seed)` -> one picture or a tuple of them, in the order they
are written: the first to the figure's file (`ZooModel.figure_file`), an `Animation` beside it as
<file stem>.gif. Images are float arrays [N, H, W, C] in [0, 1]. Nothing here draws or writes
files, so the models need neither matplotlib nor the file layout of a run.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Grid:
    """Images [N, H, W, C] in [0, 1] as a grid of `columns` under `title`; `scale`: pixels per
    image pixel (None: the default upscaling of small images)."""

    images: np.ndarray
    title: str
    columns: int | None = None
    scale: int | None = None


@dataclasses.dataclass(frozen=True)
class Bars:
    """One bar chart per panel: {panel title: counts [K]} (or a bare [K] array for one panel)."""

    panels: object
    title: str
    xlabel: str
    ylabel: str


@dataclasses.dataclass(frozen=True)
class Scatter:
    """Points [N, 2] coloured by integer label [N] (-1: unlabeled)."""

    points: np.ndarray
    labels: np.ndarray
    title: str
    xlabel: str
    ylabel: str


@dataclasses.dataclass(frozen=True)
class Animation:
    """An animated GIF: frame i is a grid of `columns` of pictures[i], images [N, H, W, C], under
    `title` (and `captions[i]`, a line saying what frame i is), each row named by `row_labels`."""

    pictures: list
    columns: int
    title: str = ""
    row_labels: tuple = ()
    captions: tuple = ()


def evenly_spaced(n, count):
    """`count` indices spread over range(n) (int64 [<= count]): the test splits are often sorted
    by label."""
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(int))


def subset(examples, indices):
    """The rows `indices` of every array of the dict `examples`."""
    return {key: value[indices] for key, value in examples.items()}


def slices(examples, batch_size):
    """The dict of arrays `examples` cut into consecutive batches of at most `batch_size` rows."""
    size = len(next(iter(examples.values())))
    for start in range(0, size, batch_size):
        yield {key: value[start : start + batch_size] for key, value in examples.items()}
