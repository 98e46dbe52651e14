"""Pictures as PNG files: bare image grids, and titled figures of images, scatters and curves.

Titled image figures are pixel-exact: the grid is drawn unresampled (each pixel as a
`scale` x `scale` block) below a band that holds the title, so their size follows from the grid:
    width  = max(grid width * scale + 2 * MARGIN, MIN_WIDTH)
    height = grid height * scale + TITLE_BAND + MARGIN
Charts are PANEL pixels a panel (a scatter: SCATTER), at most three panels a row, plus the band.
"""

import math
import textwrap

import numpy as np

from keras_vae.runner import runs

DPI = 100
MARGIN = 8
TITLE_LINES = 3
TITLE_BAND = 12 + 14 * TITLE_LINES  # pixels, for 9-point type at DPI
MIN_WIDTH = 400  # so a title fits above a narrow grid
PANEL = (400, 320)  # width, height of one chart panel
SCATTER = (560, 520)
TILE = 56  # image grids are upscaled until a tile is at least this many pixels high


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed).

    Returns:
        the `matplotlib.pyplot` module.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grid(images, columns=None):
    """[N, H, W, C] images in [0, 1] -> one [rows*H, columns*W, C] image, a 1-pixel gap between.

    Exactly: [rows * (H + 1) - 1, columns * (W + 1) - 1, C] float32; values are clipped to [0, 1],
    and the gaps and empty cells are white (1.0).

    Args:
        images: array-like [N, H, W, C] in [0, 1].
        columns: images a row; default ceil(sqrt(N)). rows = ceil(N / columns).

    Returns:
        np.ndarray float32 [rows * (H + 1) - 1, columns * (W + 1) - 1, C] in [0, 1].

    Raises:
        ValueError: `images` is not 4-D.
    """
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
    """Write images as one PNG grid, pixel for pixel (grayscale for one channel).

    Args:
        images: [N, H, W, C] in [0, 1], C 1 or 3.
        path: the PNG file, written atomically (`keras_vae.runner.runs.atomic`).
        columns: images a row, as `grid`.

    Returns:
        `path`.
    """
    plt = pyplot()
    canvas = grid(images, columns)
    with runs.atomic(path) as tmp:
        if canvas.shape[-1] == 1:
            plt.imsave(tmp, canvas[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            plt.imsave(tmp, canvas[..., :3])
    return path


def default_scale(image_height):
    """The upscaling factor that makes a tile of `image_height` pixels at least TILE (56) high.

    Args:
        image_height: H, in pixels.

    Returns:
        int >= 1: ceil(56 / H).
    """
    return max(1, math.ceil(TILE / image_height))


def _save(fig, path):
    with runs.atomic(path) as tmp:
        fig.savefig(tmp, dpi=DPI)
    pyplot().close(fig)
    return path


def save_titled_grid(images, path, title, columns=None, scale=None):
    """Write images as a grid under `title`, pixel-exact (see the module docstring for the size).

    Args:
        images: [N, H, W, C] in [0, 1]; one channel is drawn grey, more than 3 keep the first 3.
        path: the PNG file, written atomically.
        title: the title, wrapped to at most TITLE_LINES (3) lines.
        columns: images a row, as `grid`.
        scale: pixels a pixel, default `default_scale(H)`.

    Returns:
        `path`.

    Raises:
        ValueError: the title needs more than 3 lines at this width.
    """
    plt = pyplot()
    images = np.asarray(images, np.float32)
    scale = scale or default_scale(images.shape[1])
    canvas = grid(images, columns).repeat(scale, axis=0).repeat(scale, axis=1)
    canvas = np.repeat(canvas, 3, axis=-1) if canvas.shape[-1] == 1 else canvas[..., :3]
    height = canvas.shape[0] + TITLE_BAND + MARGIN
    width = max(canvas.shape[1] + 2 * MARGIN, MIN_WIDTH)
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    # figimage draws array pixels 1:1 at the figure's dpi; offsets count from the bottom left.
    fig.figimage(canvas, xo=(width - canvas.shape[1]) // 2, yo=MARGIN, origin="upper")
    fig.text(0.5, 1 - 6 / height, _wrapped(title, width - 2 * MARGIN, 9), ha="center", va="top", fontsize=9)
    return _save(fig, path)


def _wrapped(title, width_px, fontsize):
    """`title` broken into lines that fit width_px (a glyph averages about 0.55 em)."""
    lines = textwrap.wrap(title, width=int(width_px / (0.55 * fontsize * DPI / 72)))
    if len(lines) > TITLE_LINES:
        raise ValueError(f"title too long for {width_px} pixels: {title!r}")
    return "\n".join(lines)


def _chart(panels, title, panel=PANEL):
    """A figure of `panels` chart axes, at most three a row, under a title."""
    plt = pyplot()
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    width, height = columns * panel[0], rows * panel[1] + TITLE_BAND
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    fig.suptitle(_wrapped(title, width, 10), fontsize=10)
    return fig, [fig.add_subplot(rows, columns, i + 1) for i in range(panels)]


def save_scatter(points, labels, path, title, xlabel, ylabel):
    """points [N, 2] coloured by integer label (-1: unlabeled), one legend entry per class.

    Unlabeled points are drawn (grey) only when no point has a label; a legend appears for 1 to 20
    classes. The figure is SCATTER (560 x 520) pixels plus the title band.

    Args:
        points: float [N, 2], e.g. 2-D latent means.
        labels: int [N], >= 0 for a class, -1 for none.
        path: the PNG file, written atomically.
        title: the title (at most 3 lines at the figure's width).
        xlabel: the x axis label.
        ylabel: the y axis label.

    Returns:
        `path`.

    Raises:
        ValueError: the title is too long.
    """
    fig, (ax,) = _chart(1, title, SCATTER)
    labels = np.asarray(labels)
    classes = np.unique(labels[labels >= 0])
    if len(classes) == 0:
        ax.scatter(points[:, 0], points[:, 1], s=4, color="tab:gray", alpha=0.6)
    colors = pyplot().get_cmap("tab10" if len(classes) <= 10 else "turbo").resampled(max(1, len(classes)))
    for i, label in enumerate(classes):
        chosen = labels == label
        ax.scatter(points[chosen, 0], points[chosen, 1], s=4, color=colors(i), alpha=0.7, label=str(label))
    if 0 < len(classes) <= 20:
        ax.legend(markerscale=3, fontsize=6, loc="best", ncols=2)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    return _save(fig, path)


def save_curves(history, names, path, title, held_out="validation", units=None):
    """One panel per metric name of a run's history: the training value and, dashed, the
    held-out one (val_NAME, labelled `held_out`) in the epochs that recorded it.

    Args:
        history: the run's history.json, a list of dicts {"epoch": int (1-based), NAME: float,
            "val_NAME": float (optional), ...}; every record has each of `names`.
        names: the metric names, one panel each (PANEL, 400 x 320 pixels; three a row).
        path: the PNG file, written atomically.
        title: the title.
        held_out: the legend label of the val_ curves.
        units: {name: the y axis label, its units ("nats per example")}; a name without one has
            an unlabelled y axis.

    Returns:
        `path`.

    Raises:
        KeyError: a record lacks one of `names`.
        ValueError: the title is too long.
    """
    fig, axes = _chart(len(names), title)
    epochs = [h["epoch"] for h in history]
    for ax, name in zip(axes, names):
        ax.plot(epochs, [h[name] for h in history], "o-", ms=3, label="train")
        held = [(h["epoch"], h[f"val_{name}"]) for h in history if f"val_{name}" in h]
        if held:
            ax.plot(*zip(*held), "s--", ms=3, label=held_out)
        ax.set(title=name, xlabel="epoch", ylabel=(units or {}).get(name, ""))
        ax.legend(fontsize=7)
    return _save(fig, path)


def save_bars(values, path, title, xlabel, ylabel):
    """One bar per index of `values` (a histogram whose bins are given); {panel title: values}
    draws one such chart a panel.

    Args:
        values: a sequence of bar heights (e.g. code usage counts), or {panel title: sequence}.
        path: the PNG file, written atomically.
        title: the figure's title.
        xlabel: the x axis label (the index).
        ylabel: the y axis label.

    Returns:
        `path`.

    Raises:
        ValueError: the title is too long.
    """
    panels = values if isinstance(values, dict) else {None: values}
    fig, axes = _chart(len(panels), title, SCATTER)
    for ax, (name, bars) in zip(axes, panels.items()):
        ax.bar(np.arange(len(bars)), bars, width=1.0, color="tab:blue")
        ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(-0.5, len(bars) - 0.5))
        if name is not None:
            ax.set_title(name, fontsize=9)
    return _save(fig, path)


GIF_TILE = 2 * TILE  # an animation is watched, not read pixel by pixel: twice a grid's tiles
GIF_FONT = 14  # pixels


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: its small bitmap font
        return ImageFont.load_default()


def save_gif(pictures, path, columns, seconds_per_frame=0.25, scale=None, title="", row_labels=(), captions=()):
    """An animated GIF: picture i [N, H, W, C] in [0, 1] is frame i, a grid of `columns` (looping),
    on white, under `title` and `captions[i]`, with `row_labels` left of the rows.

    Args:
        pictures: a sequence of frames, each [N, H, W, C] in [0, 1] (C 1 or 3), all one shape;
            stored uint8 0..255.
        path: the GIF file, written atomically.
        columns: images a row of each frame's grid.
        seconds_per_frame: each frame's duration, in seconds (stored in whole milliseconds).
        scale: pixels a pixel, default ceil(GIF_TILE / H) (a 28-pixel image is drawn 112 high).
        title: a line above every frame (wrapped to the width); "" for none.
        row_labels: one name a row of the grid, drawn left of it; () for none.
        captions: one line a frame, below the title (what frame i shows); () for none.

    Returns:
        `path`.
    """
    from PIL import Image, ImageDraw

    scale = scale or max(1, math.ceil(GIF_TILE / np.shape(pictures[0])[1]))
    font = _font(GIF_FONT)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left = max((probe.textlength(label, font=font) for label in row_labels), default=-MARGIN) + 2 * MARGIN
    grids = [
        (grid(images, columns) * 255).round().astype(np.uint8).repeat(scale, 0).repeat(scale, 1) for images in pictures
    ]
    height, width = grids[0].shape[:2]
    canvas_width = int(left) + width + MARGIN
    per_line = max(1, int(canvas_width / (0.55 * GIF_FONT)))
    head = textwrap.wrap(title, per_line) + ([""] if captions else [])
    top = MARGIN + len(head) * (GIF_FONT + 4) + (MARGIN if head else 0)
    rows = len(row_labels)
    frames = []
    for i, tiles in enumerate(grids):
        rgb = np.repeat(tiles, 3, -1) if tiles.shape[-1] == 1 else tiles[..., :3]
        frame = Image.new("RGB", (canvas_width, top + height + MARGIN), "white")
        frame.paste(Image.fromarray(rgb), (int(left), top))
        draw = ImageDraw.Draw(frame)
        lines = head[:-1] + [captions[i]] if captions else head
        for j, line in enumerate(lines):
            draw.text((MARGIN, MARGIN + j * (GIF_FONT + 4)), line, fill="black", font=font)
        for r, label in enumerate(row_labels):
            middle = top + (r + 0.5) * height / rows
            draw.text((MARGIN, middle), label, fill="black", font=font, anchor="lm")
        frames.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    with runs.atomic(path) as tmp:
        frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=int(seconds_per_frame * 1000), loop=0
        )
    return path
