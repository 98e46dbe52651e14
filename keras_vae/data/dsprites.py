"""A dSprites-like dataset drawn procedurally: white shapes on black, 64x64x1, every factor combination once.

dSprites (Matthey et al. 2017) holds one image per combination of six latent factors, in this index order
with the last factor varying fastest (the order of its `latents_classes` / `latents_values`):

    factor        values                                              count
    color         1.0 (white)                                         1
    shape         1.0, 2.0, 3.0 = square, ellipse, heart              3
    scale         linspace(0.5, 1, 6)                                 6
    orientation   2 * pi * k / 40, k = 0..39: 40 values in [0, 2pi)   40
    position_x    linspace(0, 1, 32)                                  32
    position_y    linspace(0, 1, 32)                                  32

1 * 3 * 6 * 40 * 32 * 32 = 737,280 images. (The original's orientation grid is linspace(0, 2pi, 40), whose
first and last values draw the same picture; here the 40 steps are 2pi/40 apart and never repeat.)

The shapes are not the original's bitmaps but analytic masks: each shape is a region of a canonical plane
whose circumscribed circle about the rotation centre has radius <= 1 (a square of half-side 1/sqrt(2), an
ellipse of semi-axes 1 and 0.4, the heart curve (x^2 + y^2 - 1)^3 <= x^2 y^3 centred on its bounding box and
shrunk to radius 0.9), so at a fixed scale the square covers the most pixels, then the heart, then the
ellipse. A pixel is white when most of its 3x3 sub-pixel samples fall inside the shape after the inverse of
the sprite's translation, rotation (counter-clockwise as displayed, about the shape's centre) and scaling
(`RADIUS` = 8 px times the scale). position_x moves the centre right, position_y moves it down, both from
8 px to 56 px (`RADIUS` to 64 - `RADIUS`), so even the largest sprite, at any orientation, is never clipped.

`render(factors)` draws chosen combinations in memory (uint8 in {0, 255}). `load()` draws the whole grid once
into a cache file of packed bits (np.packbits of each image's 4,096 pixels: 512 bytes an image, 377,487,360
bytes of pixels behind a 4,096-byte header, 360 MiB) and reads it back through np.memmap; `subset(indices)`
and `load(limit=...)` give the same interface without the cache. Drawing and writing the full grid took 70 s
on this machine (one of 2 shared cores; chunks of 4,096 images, peak resident memory 0.43 GB); a second
`load` opens the cache in 0.01 s, and 2,000 random images come back from it in 0.01 s.

This module imports only numpy (and keras_vae.core.errors): no TensorFlow.
"""

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from keras_vae.core.errors import UserError
from keras_vae.data import stores

log = logging.getLogger(__name__)

FACTOR_NAMES = ("color", "shape", "scale", "orientation", "position_x", "position_y")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
N_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
IMAGE_SIZE = 64
RADIUS = 8.0  # px: the circumscribed radius of every shape at scale 1, and the margin its centre keeps
SUPERSAMPLE = 3  # sub-pixel samples per pixel side; a pixel is white when most of its 9 samples are inside

# The canonical shapes, each inside the unit circle about its rotation centre.
SQUARE_HALF_SIDE = 1 / np.sqrt(2)
ELLIPSE_AXES = (1.0, 0.4)
HEART_FIT = 0.9  # the radius of the heart's circumscribed circle in canonical units
# The curve (x^2 + y^2 - 1)^3 = x^2 y^3 spans y in [-1, 1.23666]; its bounding box's centre is at
# y = 0.11833, and its farthest point from there lies 1.33660 away (measured by bisection along 200,001 rays).
HEART_CENTRE_Y = 0.11833
HEART_EXTENT = 1.33661

CACHE_VERSION = 1  # bump whenever the drawing changes: an older cache is then drawn again
CACHE_NAME = f"dsprites-v{CACHE_VERSION}.bits"
MAGIC = b"KERAS_VAE_DSPRITES\n"
HEADER_BYTES = 4096
ROW_BYTES = IMAGE_SIZE * IMAGE_SIZE // 8  # 512: one packed image
CHUNK = 4096  # images drawn and written at a time
SPOT_CHECKS = 16  # cached images drawn again and compared whenever a cache is opened

_RADICES = np.cumprod((1,) + FACTOR_SIZES[:0:-1])[::-1].astype(np.int64)  # (737280/1, ..., 32, 1): strides


def factor_values():
    """The value grid of every factor, as the original's `latents_values` takes them.

    Returns:
        A tuple of six float64 arrays, one per factor in `FACTOR_NAMES` order, of lengths `FACTOR_SIZES`:
        color [1.0], shape [1.0, 2.0, 3.0], scale linspace(0.5, 1, 6), orientation 2 pi k / 40 for
        k = 0..39, position_x and position_y linspace(0, 1, 32).
    """
    return (
        np.ones(1),
        np.arange(1.0, 4.0),
        np.linspace(0.5, 1.0, 6),
        2 * np.pi * np.arange(40) / 40,
        np.linspace(0.0, 1.0, 32),
        np.linspace(0.0, 1.0, 32),
    )


def _as_int_array(values, what):
    array = np.asarray(values)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        if array.size == 0:
            return array.astype(np.int64)
        raise UserError(f"dSprites {what} must be integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def check_factors(factors):
    """Factor indices as an int64 array, checked against `FACTOR_SIZES`.

    Args:
        factors: integer array_like [..., 6]: for each image the index of each factor's value.

    Returns:
        int64 array [..., 6], the same values.

    Raises:
        UserError: `factors` is not integer, its last axis is not 6 long, or an index is out of range.
    """
    factors = _as_int_array(factors, "factors")
    if factors.ndim == 0 or factors.shape[-1] != len(FACTOR_SIZES):
        raise UserError(f"dSprites factors need a last axis of {len(FACTOR_SIZES)}, got shape {factors.shape}")
    bad = (factors < 0) | (factors >= np.asarray(FACTOR_SIZES))
    if bad.any():
        axis = int(np.nonzero(bad.reshape(-1, len(FACTOR_SIZES)).any(axis=0))[0][0])
        raise UserError(f"dSprites factor {FACTOR_NAMES[axis]} takes indices 0..{FACTOR_SIZES[axis] - 1}")
    return factors


def check_indices(indices, count=N_IMAGES):
    """Image indices as an int64 array, each in [0, count).

    Args:
        indices: integer array_like of any shape.
        count: the number of images indexed.

    Returns:
        int64 array of `indices`' shape.

    Raises:
        UserError: `indices` is not integer or an index is outside [0, count).
    """
    indices = _as_int_array(indices, "indices")
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        raise UserError(f"dSprites indices must lie in [0, {count}), got {indices.min()}..{indices.max()}")
    return indices


def index_of(factors):
    """The image index of factor combinations: mixed radix `FACTOR_SIZES`, position_y fastest.

    Args:
        factors: integer array_like [..., 6] of factor indices.

    Returns:
        int64 array [...] in [0, 737280).

    Raises:
        UserError: as `check_factors`.
    """
    return check_factors(factors) @ _RADICES


def factors_of(index):
    """The factor indices of image indices: the inverse of `index_of`.

    Args:
        index: integer array_like [...] in [0, 737280).

    Returns:
        int64 array [..., 6] of factor indices in `FACTOR_NAMES` order.

    Raises:
        UserError: as `check_indices`.
    """
    index = check_indices(index)
    return (index[..., None] // _RADICES) % np.asarray(FACTOR_SIZES)


def values_of(factors):
    """The factor values of factor indices, as the original's `latents_values` rows.

    Args:
        factors: integer array_like [..., 6] of factor indices.

    Returns:
        float32 array [..., 6] of values (see `factor_values`).

    Raises:
        UserError: as `check_factors`.
    """
    factors = check_factors(factors)
    columns = [grid[factors[..., axis]] for axis, grid in enumerate(factor_values())]
    return np.stack(columns, axis=-1).astype(np.float32)


def _inside(shape, u, v):
    """Whether canonical points (u, v) (float arrays of one shape, y up) lie in shape number `shape` (0..2)."""
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= SQUARE_HALF_SIDE
    if shape == 1:
        return (u / ELLIPSE_AXES[0]) ** 2 + (v / ELLIPSE_AXES[1]) ** 2 <= 1
    x = u * (HEART_EXTENT / HEART_FIT)
    y = v * (HEART_EXTENT / HEART_FIT) + HEART_CENTRE_Y
    x2 = x * x
    return (x2 + y * y - 1) ** 3 <= x2 * y * y * y


# Each sprite is drawn in a WINDOW x WINDOW block of pixels holding its circumscribed circle and the
# sub-pixel samples near it, then pasted into a canvas padded by PAD on every side and cropped.
_WINDOW = int(2 * RADIUS) + 4
_PAD = 4
_SUB = (np.arange(SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE  # sample offsets within a pixel


def render(factors):
    """Draw the images of factor combinations.

    Args:
        factors: integer array_like [n, 6] (or [6] for one image) of factor indices.

    Returns:
        uint8 array [n, 64, 64] in {0, 255}: white (255) inside the shape. Rows go down, columns right.

    Raises:
        UserError: as `check_factors`.
    """
    factors = check_factors(factors).reshape(-1, len(FACTOR_SIZES))
    out = np.empty((len(factors), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for start in range(0, len(factors), 1024):  # bounded temporaries: about 60 MB per float32 array
        out[start : start + 1024] = _render_chunk(factors[start : start + 1024])
    return out


def _render_chunk(factors):
    n = len(factors)
    _, _, scales, orientations, xs, ys = factor_values()
    scale = (scales[factors[:, 2]] * RADIUS).astype(np.float32)
    angle = orientations[factors[:, 3]]
    cos, sin = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    span = IMAGE_SIZE - 2 * RADIUS
    centre_x = (RADIUS + span * xs[factors[:, 4]]).astype(np.float32)  # in pixels: pixel j spans [j, j + 1)
    centre_y = (RADIUS + span * ys[factors[:, 5]]).astype(np.float32)
    left = np.floor(centre_x - _WINDOW / 2).astype(np.int64)
    top = np.floor(centre_y - _WINDOW / 2).astype(np.int64)
    # Sample coordinates relative to each centre: [n, window, sub] along each axis.
    ramp = np.arange(_WINDOW, dtype=np.float32)[:, None] + _SUB[None, :]
    dx = (left - centre_x)[:, None, None].astype(np.float32) + ramp
    dy = -((top - centre_y)[:, None, None].astype(np.float32) + ramp)  # y up
    # Inverse rotation and scaling, broadcast to [n, row, sub_row, col, sub_col].
    dx = dx[:, None, None, :, :]
    dy = dy[:, :, :, None, None]
    c, s, k = (a[:, None, None, None, None] for a in (cos, sin, scale))
    u = (dx * c + dy * s) / k
    v = (dy * c - dx * s) / k
    inside = np.zeros(u.shape, bool)
    shapes = factors[:, 1]
    for shape in np.unique(shapes):
        rows = shapes == shape
        inside[rows] = _inside(int(shape), u[rows], v[rows])
    votes = inside.sum(axis=(2, 4), dtype=np.int16)  # [n, window, window]
    window = np.where(votes * 2 > SUPERSAMPLE * SUPERSAMPLE, np.uint8(255), np.uint8(0))
    canvas = np.zeros((n, IMAGE_SIZE + 2 * _PAD, IMAGE_SIZE + 2 * _PAD), np.uint8)
    offsets = np.arange(_WINDOW)
    canvas[
        np.arange(n)[:, None, None],
        (top + _PAD)[:, None, None] + offsets[None, :, None],
        (left + _PAD)[:, None, None] + offsets[None, None, :],
    ] = window
    return canvas[:, _PAD : _PAD + IMAGE_SIZE, _PAD : _PAD + IMAGE_SIZE]


class Sprites:
    """Images of chosen factor combinations, with their factors: the interface of every dSprites source.

    Attributes:
        indices: int64 [n], the grid index of each image (`arange(737280)` for the whole grid).
    """

    def __init__(self, indices):
        """Images of the grid's `indices`, drawn on demand.

        Args:
            indices: integer array_like [n] of grid indices, in any order.

        Raises:
            UserError: as `check_indices`.
        """
        self.indices = check_indices(indices).reshape(-1)

    def __len__(self):
        return len(self.indices)

    @property
    def factors(self):
        """int64 [n, 6]: each image's factor indices (computed from `indices`, never stored)."""
        return factors_of(self.indices)

    @property
    def factor_values(self):
        """float32 [n, 6]: each image's factor values, as the original's `latents_values`."""
        return values_of(self.factors)

    def _positions(self, positions):
        return check_indices(positions, len(self)).reshape(-1)

    def images(self, positions):
        """Images by position in this collection.

        Args:
            positions: integer array_like [m] in [0, len(self)), sorted or not, repeats allowed.

        Returns:
            uint8 array [m, 64, 64, 1] in {0, 255}.

        Raises:
            UserError: a position is not an integer or out of range.
        """
        positions = self._positions(positions)
        return render(factors_of(self.indices[positions]))[..., None]

    def images_of(self, factors):
        """The images of any factor combinations, in or out of this collection.

        Args:
            factors: integer array_like [m, 6] of factor indices.

        Returns:
            uint8 array [m, 64, 64, 1] in {0, 255}.

        Raises:
            UserError: as `check_factors`.
        """
        return render(factors)[..., None]


class CachedSprites(Sprites):
    """Images read from a cache file of packed bits (see `build_cache`) through np.memmap."""

    def __init__(self, path, indices):
        """Images of the grid's `indices` read from the rows of a cache file.

        Args:
            path: the cache file, already checked to hold `indices` (`open_cache`).
            indices: integer array_like [n] of the grid indices its rows hold, in row order.

        Raises:
            UserError: as `check_indices`.
        """
        super().__init__(indices)
        self.path = Path(path)
        # Read with pread, not a memory map: a full epoch would otherwise leave all 377 MB of the
        # file resident in this process (the kernel's page cache still holds it for the next).
        self.rows = stores.FileRows(self.path, HEADER_BYTES, (len(self.indices), ROW_BYTES), np.uint8)
        self.whole_grid = np.array_equal(self.indices, np.arange(N_IMAGES))  # row = grid index

    def images(self, positions):
        """Images by position (row) in the cache: see `Sprites.images`."""
        positions = self._positions(positions)
        order = np.argsort(positions, kind="stable")  # reads in file order, then puts them back
        packed = np.empty((len(positions), ROW_BYTES), np.uint8)
        packed[order] = self.rows.rows(positions[order])
        pixels = np.unpackbits(packed, axis=1) * np.uint8(255)
        return pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)

    def images_of(self, factors):
        """The images of any factor combinations: read from the cache when it holds the whole
        grid in its order (row = grid index), else drawn (see `Sprites.images_of`)."""
        if self.whole_grid:
            return self.images(index_of(factors).reshape(-1))
        return super().images_of(factors)


def subset(indices):
    """Chosen grid images drawn on demand, without the cache (tests, quick runs).

    Args:
        indices: integer array_like [n] of grid indices in [0, 737280).

    Returns:
        A `Sprites`: len n; `images(positions)` draws them when asked.

    Raises:
        UserError: as `check_indices`.
    """
    return Sprites(indices)


def _fingerprint(indices):
    return hashlib.sha256(np.ascontiguousarray(indices, dtype="<i8").tobytes()).hexdigest()


def _header(indices):
    return {
        "format": "packbits",
        "version": CACHE_VERSION,
        "image_size": IMAGE_SIZE,
        "row_bytes": ROW_BYTES,
        "count": len(indices),
        "factor_sizes": list(FACTOR_SIZES),
        "indices_sha256": _fingerprint(indices),
    }


def build_cache(path, indices, chunk=CHUNK):
    """Draw the images of `indices` into a cache file, atomically: a temporary file, then os.replace.

    The file is a 4,096-byte header (`MAGIC`, then one line of JSON: format, version, count, a hash of the
    indices; padded with spaces) followed by one row of 512 bytes per image, np.packbits of its 4,096 pixels
    in row-major order. At most `chunk` images are unpacked in memory at a time.

    Args:
        path: the cache file to write (its directory is created).
        indices: integer array_like [n] of grid indices, one row each, in this order.
        chunk: images drawn and written at a time.

    Returns:
        The `Path` written.

    Raises:
        UserError: as `check_indices`, or the directory cannot be written.
    """
    indices = check_indices(indices).reshape(-1)
    path = Path(path)
    header = MAGIC + json.dumps(_header(indices)).encode() + b"\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(temporary, "wb") as file:
            file.write(header.ljust(HEADER_BYTES, b" "))
            for start in range(0, len(indices), chunk):
                images = render(factors_of(indices[start : start + chunk]))
                file.write(np.packbits(images.reshape(len(images), -1) > 0, axis=1).tobytes())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise UserError(f"cannot write the dSprites cache {path}: {error}") from error
    finally:
        temporary.unlink(missing_ok=True)
    log.info("drew %d dSprites images into %s in %.1f s", len(indices), path, time.perf_counter() - started)
    return path


def open_cache(path, indices):
    """The cache file at `path` if it holds exactly the images of `indices`, else why not.

    Checks the header, the file size, and a few images drawn again (the first, the last and some between).

    Args:
        path: a cache file written by `build_cache`.
        indices: integer array_like [n] of grid indices it should hold, in row order.

    Returns:
        (CachedSprites, None) if the file is sound, else (None, a reason: str).
    """
    indices = check_indices(indices).reshape(-1)
    path = Path(path)
    try:
        with open(path, "rb") as file:
            head = file.read(HEADER_BYTES)
        size = path.stat().st_size
    except FileNotFoundError:
        return None, "missing"
    except OSError as error:
        return None, f"unreadable ({error})"
    if not head.startswith(MAGIC):
        return None, "not a dSprites cache (bad magic)"
    try:
        header = json.loads(head[len(MAGIC) :].split(b"\n", 1)[0])
    except ValueError:
        return None, "unreadable header"
    if header != _header(indices):
        return None, f"header {header} is not this version's"
    expected = HEADER_BYTES + len(indices) * ROW_BYTES
    if size != expected:
        return None, f"{size} bytes instead of {expected} (truncated?)"
    cached = CachedSprites(path, indices)
    if len(indices):
        rng = np.random.default_rng(size)
        probe = np.unique(np.concatenate([[0, len(indices) - 1], rng.integers(0, len(indices), SPOT_CHECKS)]))
        if not np.array_equal(cached.images(probe)[..., 0], render(factors_of(indices[probe]))):
            return None, "its images differ from the drawing (corrupt?)"
    return cached, None


def default_cache_dir():
    """The default cache directory: $KERAS_VAE_CACHE, else ~/.cache/keras_vae.

    Returns:
        A `Path`.
    """
    return Path(os.environ.get("KERAS_VAE_CACHE") or Path.home() / ".cache" / "keras_vae")


def _all_indices():
    return np.arange(N_IMAGES, dtype=np.int64)


def cached(path, indices):
    """The cache at `path` for `indices`, drawn first if missing, and drawn again (with a warning) if unsound.

    Args:
        path: the cache file.
        indices: integer array_like [n] of grid indices, in row order.

    Returns:
        A `CachedSprites`.

    Raises:
        UserError: the cache cannot be written.
    """
    sprites, reason = open_cache(path, indices)
    if sprites is not None:
        return sprites
    if reason != "missing":
        log.warning("dSprites cache %s is unusable: %s; drawing it again", path, reason)
    log.info("drawing %d dSprites images into %s (about a minute, once)", len(np.reshape(indices, -1)), path)
    build_cache(path, indices)
    sprites, reason = open_cache(path, indices)
    if sprites is None:
        raise UserError(f"the dSprites cache {path} just written is unusable: {reason}")
    return sprites


def load(cache_dir=None, limit=None, seed=0):
    """The dSprites grid: all 737,280 images from the cache (drawn into it the first time), or a sample.

    Args:
        cache_dir: directory of the cache file (default `default_cache_dir()`: $KERAS_VAE_CACHE, else
            ~/.cache/keras_vae). Its file is `CACHE_NAME`, 377 MB.
        limit: if given, a seeded random sample of this many grid images (sorted by index), drawn on
            demand without the cache.
        seed: the sample's seed (with `limit`).

    Returns:
        A `Sprites` (a `CachedSprites` without `limit`): `len`, `images(positions)` -> uint8 [m, 64, 64, 1]
        in {0, 255}, `factors` int64 [n, 6], `factor_values` float32 [n, 6], `indices` int64 [n].

    Raises:
        UserError: `limit` is not an int in [1, 737280], or the cache cannot be written.
    """
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not 1 <= limit <= N_IMAGES:
            raise UserError(f"dSprites limit must be an integer in [1, {N_IMAGES}], got {limit!r}")
        rng = np.random.default_rng(seed)
        return subset(np.sort(rng.choice(N_IMAGES, int(limit), replace=False)))
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cached(directory / CACHE_NAME, _all_indices())
