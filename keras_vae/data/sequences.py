"""Sequence datasets: `moving:<image dataset>`, one real image moving across its frame.

Each image of the underlying dataset (`mnist_5k`, `mnist`, `npz:PATH`, `folder:PATH`, ...) gives
one sequence of `frames` frames (default 20): frame t is the image rolled (with wrap-around)
`offset + direction * t` pixels along its width, direction -1 (left) or +1 (right) and the offset
in [0, width) drawn per sequence from a seeded generator, so a dataset name and a seed always
give the same sequences. The split is the underlying dataset's: a test sequence is made from a
test image, and no test image appears in a training sequence (the moving-MNIST experiment of
Gregor et al. 2019, section 5.2).

`SequenceData` offers the interface of `data.ImageData`: `keys` (("frames",)), `examples(split,
limit)` -> {"frames": float32 [N, T, H, W, C] in [0, 1]}, `batches(...)` (a tf.data pipeline of
dict batches, the frames made on the fly from the images, so memory holds only the images) and
`check_fits(model)`.
"""

import dataclasses

import numpy as np

from keras_vae.core.errors import UserError

PREFIX = "moving:"
FRAMES = 20
SEED = 0


@dataclasses.dataclass
class SequenceData:
    """Sequences of one moving image. images: the underlying ImageData; directions, offsets:
    per split, int32 [N] (direction -1 or +1, offset in [0, width)).

    Made by `moving` (with "train" and "test" entries); `with_validation` adds "validation".

    Args:
        name: the dataset's name, `moving:<image dataset>`.
        images: the underlying `keras_vae.data.datasets.ImageData` (float32 [N, H, W, C] in [0, 1]).
        frames: T, frames per sequence (>= 2).
        directions: {split: int32 [N]}, -1 (left) or +1 (right), one per image of the split.
        offsets: {split: int32 [N]}, the first frame's shift in pixels, in [0, W).
    """

    name: str
    images: object  # data.ImageData
    frames: int
    directions: dict
    offsets: dict

    keys = ("frames",)

    @property
    def image_shape(self):
        """One frame's shape (H, W, C): the underlying images' shape, a tuple of int."""
        return self.images.image_shape

    @property
    def num_classes(self):
        """None: sequences carry no labels."""
        return None  # sequences carry no labels

    @property
    def validation_fraction(self):
        """The share of the train split held out as "validation" (the underlying images'), in [0, 1)."""
        return self.images.validation_fraction

    def with_validation(self, fraction, seed=0):
        """This data with `fraction` of its train sequences held out (seeded, as
        `data.ImageData.with_validation` holds out images) as "validation"; every sequence keeps
        its image, direction and offset.

        Args:
            fraction: the share of the train sequences held out, in [0, 1); 0 holds out none.
            seed: the split's seed (`keras_vae.data.datasets.split_off`).

        Returns:
            a new SequenceData whose directions and offsets have "train", "validation" and "test"
            entries (only "train" and "test" for fraction 0).

        Raises:
            UserError: `fraction` is not in [0, 1), or leaves the training or validation split empty.
        """
        images = self.images.with_validation(fraction, seed)
        if not fraction:
            return dataclasses.replace(self, images=images)
        kept, held = images.split_indices["train"], images.split_indices["validation"]

        def split(per_sequence):
            return {
                "train": per_sequence["train"][kept],
                "validation": per_sequence["train"][held],
                "test": per_sequence["test"],
            }

        return dataclasses.replace(self, images=images, directions=split(self.directions), offsets=split(self.offsets))

    def shifts(self, split, limit=None):
        """int32 [N, T]: how far frame t of each sequence is rolled to the right.

        Args:
            split: a split of `directions` ("train", "test"; "validation" after `with_validation`
                with a fraction > 0).
            limit: keep the first `limit` sequences, or None for all.

        Returns:
            int32 [N, T], pixels: offset + direction * t, not reduced modulo the width (the roll wraps).

        Raises:
            KeyError: `split` has no directions (see above).
        """
        t = np.arange(self.frames, dtype=np.int64)
        return (self.offsets[split][:limit, None] + self.directions[split][:limit, None] * t).astype(np.int32)

    def examples(self, split, limit=None):
        """{"frames": float32 [N, T, H, W, C]} of the first `limit` sequences of the split.

        Args:
            split: "train", "validation" (after `with_validation` with a fraction > 0) or "test".
            limit: keep the first `limit` sequences, or None for all.

        Returns:
            {"frames": float32 [N, T, H, W, C] in [0, 1]}: frame t is the image rolled by
            `shifts(split)[:, t]` pixels along its width, with wrap-around.

        Raises:
            UserError: an unknown split.
        """
        images = self.images.examples(split, limit)["images"]
        width = images.shape[2]
        shifts = self.shifts(split, limit)
        # Frame t, column w, is column (w - shift_t) mod W of the image: np.roll along the width.
        columns = (np.arange(width)[None, None, :] - shifts[:, :, None]) % width  # [N, T, W]
        rows = np.arange(len(images))[:, None, None]
        frames = images[rows, :, columns]  # [N, T, W, H, C]
        return {"frames": np.ascontiguousarray(frames.transpose(0, 1, 3, 2, 4))}

    def batches(self, split, batch_size, shuffle=False, seed=None, limit=None, keys=None):
        """A tf.data pipeline of {"frames": [B, T, H, W, C]} batches, rolled on the fly.

        Only the images [N, H, W, C] and their shifts [N, T] are held in memory.

        Args:
            split: "train", "validation" (after `with_validation` with a fraction > 0) or "test".
            batch_size: sequences per batch; the last batch of a pass may be smaller.
            shuffle: shuffle the whole split, anew every pass.
            seed: the shuffle's seed, or None.
            limit: keep the first `limit` sequences, or None for all.
            keys: checked against `keys` (("frames",)); None skips the check.

        Returns:
            a prefetched `tf.data.Dataset` of {"frames": float32 [B, T, H, W, C] in [0, 1]}.

        Raises:
            UserError: an unknown split, or a key in `keys` other than "frames".
        """
        import tensorflow as tf

        if keys is not None:
            self.check_keys(keys)
        images = self.images.examples(split, limit)["images"]
        ds = tf.data.Dataset.from_tensor_slices((images, self.shifts(split, limit)))
        if shuffle:
            ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        width = images.shape[2]

        def roll(image, shifts):
            columns = (tf.range(width)[None, :] - shifts[:, None]) % width  # [T, W]
            frames = tf.gather(image, columns, axis=1)  # [H, T, W, C]
            return {"frames": tf.transpose(frames, [1, 0, 2, 3])}

        return (
            ds.batch(batch_size)
            .map(
                lambda x, s: tf.map_fn(lambda pair: roll(*pair), (x, s), fn_output_signature={"frames": tf.float32}),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .prefetch(tf.data.AUTOTUNE)
        )

    def check_keys(self, keys):
        """Every key in `keys` is one this data's batches have (only "frames").

        Args:
            keys: the batch keys a model reads.

        Raises:
            UserError: one line naming the keys the sequences lack.
        """
        missing = [key for key in keys if key not in self.keys]
        if missing:
            raise UserError(
                f"dataset {self.name} has {list(self.keys)}, not {', '.join(missing)}; the model needs {list(keys)}"
            )

    def check_fits(self, model):
        """The model reads frames of this data's shape, and its pairs fit in a sequence.

        Args:
            model: a ZooModel; its `batch_keys`, `image_shape` (one frame's) and `frames_needed` (the
                frames a training example spans) are read.

        Raises:
            UserError: the model reads a key other than "frames", the frame shapes differ, or the
                sequences have fewer than `frames_needed` frames.
        """
        self.check_keys(model.batch_keys)
        if tuple(model.image_shape) != self.image_shape:
            raise UserError(
                f"dataset {self.name} has frames of shape {list(self.image_shape)} but the model "
                f"expects {list(model.image_shape)}"
            )
        needed = model.frames_needed
        if self.frames < needed:
            raise UserError(
                f"dataset {self.name} has sequences of {self.frames} frames; the model needs at least {needed}"
            )


def moving(images, frames=FRAMES, seed=SEED, name=None):
    """Sequences of `frames` frames from ImageData `images` (one per image), deterministic for `seed`.

    Directions (-1 or +1) and offsets (in [0, W)) are drawn per split from
    `numpy.random.default_rng([seed, i])`, i = 0 for "train" and 1 for "test".

    Args:
        images: a `keras_vae.data.datasets.ImageData` without a validation split (its whole train
            split gives the train sequences).
        frames: T, frames per sequence, an int >= 2.
        seed: the seed of the directions and offsets.
        name: the data's name; default `moving:<images.name>`.

    Returns:
        SequenceData with "train" and "test" directions and offsets, int32 [N].

    Raises:
        UserError: `frames` is not an int >= 2.
    """
    if not isinstance(frames, int) or frames < 2:
        raise UserError(f"a moving sequence needs at least 2 frames, got {frames!r}")
    directions, offsets = {}, {}
    for i, split in enumerate(("train", "test")):
        n = len(images.examples(split)["images"])
        rng = np.random.default_rng([seed, i])
        directions[split] = rng.choice(np.array([-1, 1], np.int32), size=n)
        offsets[split] = rng.integers(0, images.image_shape[1], size=n, dtype=np.int32)
    return SequenceData(name or f"{PREFIX}{images.name}", images, frames, directions, offsets)


def describe(name, source):
    """What the sequences `name` are, for a model card.

    Args:
        name: `moving:<image dataset>`.
        source: (what the images are, their split) of the image dataset, or None if unknown.

    Returns:
        A str (Markdown).
    """
    if source is None:
        return f"sequences of `{name}`"
    what, split = source
    return (
        f"sequences of `{name}`: each of {what} moves one pixel per frame left or right (wrap-around, "
        f"direction and start drawn with a fixed seed), split along the digits' per-class split: {split} sequences"
    )


def load(name, load_images):
    """`moving:<image dataset>`; `load_images(name)` loads the underlying images.

    Args:
        name: `moving:<image dataset>`, e.g. "moving:mnist_5k".
        load_images: a function of an image dataset's name -> ImageData
            (`keras_vae.data.datasets.load`).

    Returns:
        SequenceData of FRAMES (20) frames a sequence, drawn with seed SEED (0).

    Raises:
        UserError: `name` names no image dataset, or names another `moving:` dataset; and whatever
            `load_images` raises.
    """
    base = name[len(PREFIX) :]
    if not base:
        raise UserError(f"{name!r} names no image dataset: use moving:<image dataset>, e.g. moving:mnist_5k")
    if base.startswith(PREFIX):
        raise UserError(f"{name!r}: the images of a moving sequence must be an image dataset")
    images = load_images(base)
    return moving(images, name=f"{PREFIX}{images.name}")
