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
    per split, int32 [N] (direction -1 or +1, offset in [0, width))."""

    name: str
    images: object  # data.ImageData
    frames: int
    directions: dict
    offsets: dict

    keys = ("frames",)

    @property
    def image_shape(self):
        return self.images.image_shape

    @property
    def num_classes(self):
        return None  # sequences carry no labels

    @property
    def validation_fraction(self):
        return self.images.validation_fraction

    def with_validation(self, fraction, seed=0):
        """This data with `fraction` of its train sequences held out (seeded, as
        `data.ImageData.with_validation` holds out images) as "validation"; every sequence keeps
        its image, direction and offset."""
        images = self.images.with_validation(fraction, seed)
        if not fraction:
            return dataclasses.replace(self, images=images)
        kept, held = images.split_indices["train"], images.split_indices["validation"]

        def split(per_sequence):
            return {"train": per_sequence["train"][kept], "validation": per_sequence["train"][held],
                    "test": per_sequence["test"]}

        return dataclasses.replace(self, images=images, directions=split(self.directions), offsets=split(self.offsets))

    def shifts(self, split, limit=None):
        """int32 [N, T]: how far frame t of each sequence is rolled to the right."""
        t = np.arange(self.frames, dtype=np.int64)
        return (self.offsets[split][:limit, None] + self.directions[split][:limit, None] * t).astype(np.int32)

    def examples(self, split, limit=None):
        """{"frames": float32 [N, T, H, W, C]} of the first `limit` sequences of the split."""
        images = self.images.examples(split, limit)["images"]
        width = images.shape[2]
        shifts = self.shifts(split, limit)
        # Frame t, column w, is column (w - shift_t) mod W of the image: np.roll along the width.
        columns = (np.arange(width)[None, None, :] - shifts[:, :, None]) % width  # [N, T, W]
        rows = np.arange(len(images))[:, None, None]
        frames = images[rows, :, columns]  # [N, T, W, H, C]
        return {"frames": np.ascontiguousarray(frames.transpose(0, 1, 3, 2, 4))}

    def batches(self, split, batch_size, shuffle=False, seed=None, limit=None, keys=None):
        """A tf.data pipeline of {"frames": [B, T, H, W, C]} batches, rolled on the fly."""
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

        return ds.batch(batch_size).map(
            lambda x, s: tf.map_fn(lambda pair: roll(*pair), (x, s), fn_output_signature={"frames": tf.float32}),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).prefetch(tf.data.AUTOTUNE)

    def check_keys(self, keys):
        missing = [key for key in keys if key not in self.keys]
        if missing:
            raise UserError(f"dataset {self.name} has {list(self.keys)}, not {', '.join(missing)}; the model needs {list(keys)}")

    def check_fits(self, model):
        """The model reads frames of this data's shape, and its pairs fit in a sequence."""
        self.check_keys(model.batch_keys)
        if tuple(model.image_shape) != self.image_shape:
            raise UserError(f"dataset {self.name} has frames of shape {list(self.image_shape)} but the model "
                            f"expects {list(model.image_shape)}")
        needed = model.frames_needed
        if self.frames < needed:
            raise UserError(f"dataset {self.name} has sequences of {self.frames} frames; the model needs at least {needed}")


def moving(images, frames=FRAMES, seed=SEED, name=None):
    """Sequences of `frames` frames from ImageData `images` (one per image), deterministic for `seed`."""
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
    return (f"sequences of `{name}`: each of {what} moves one pixel per frame left or right (wrap-around, "
            f"direction and start drawn with a fixed seed), split along the digits' per-class split: {split} sequences")


def load(name, load_images):
    """`moving:<image dataset>`; `load_images(name)` loads the underlying images."""
    base = name[len(PREFIX):]
    if not base:
        raise UserError(f"{name!r} names no image dataset: use moving:<image dataset>, e.g. moving:mnist_5k")
    if base.startswith(PREFIX):
        raise UserError(f"{name!r}: the images of a moving sequence must be an image dataset")
    images = load_images(base)
    return moving(images, name=f"{PREFIX}{images.name}")
