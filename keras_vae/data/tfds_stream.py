"""A prepared TensorFlow Datasets split, streamed through `as_dataset`: never held in memory.

The split's records are read in their file order with the images left encoded
(`tfds.decode.SkipDecoding`), so what a shuffle buffer holds is PNG or JPEG bytes (about 0.3 KB
a Fashion-MNIST image, 8 KB a CelebA photo), not pixels. Each kept record is then decoded in
parallel (`tf.data.AUTOTUNE`), centre-cropped and resized (`keras_vae.data.image_files.fit`), and
left uint8 until the batch becomes float32 (`keras_vae.data.datasets.ImageData.batches`).

A split is a subset of a TFDS split's rows (the validation split is a seeded set of row indices,
as for every source): `stream` keeps the rows asked for with a filter on the record's position,
so the same rows and the same seed give the same batches. Labels, when the dataset has them, are
read once by one pass over the records without decoding an image (int64, 8 bytes per example).
"""

import numpy as np

# Encoded examples in the shuffle buffer of a TFDS stream when the config leaves shuffle_buffer
# null: a whole split of CelebA photos would hold 1.3 GB of JPEG bytes.
SHUFFLE_BUFFER = 10_000


class TfdsSplit:
    """The images of one prepared TFDS split, read as a stream of records.

    Args:
        builder: a prepared `tfds.core.DatasetBuilder`.
        split: the TFDS split name ("train", "test").
        source_shape: (height, width, channels) of the stored images (static).
        size: (height, width) after the crop and resize, or None for the (cropped) images' own.
        crop: the side of a centre square taken first, or None (at most the images' smaller side).
    """

    on_disk = True
    streamed = True
    dtype = np.dtype(np.uint8)

    def __init__(self, builder, split, source_shape, size=None, crop=None):
        self.builder, self.split = builder, split
        self.source_shape, self.crop = tuple(source_shape), crop
        fitted = (crop, crop) if crop is not None else self.source_shape[:2]
        self.size = tuple(size) if size is not None else fitted
        count = builder.info.splits[split].num_examples
        self.shape = (int(count), *self.size, self.source_shape[2])

    def __len__(self):
        return self.shape[0]

    def records(self, **decoders):
        """The split's records in file order, each image still encoded (a tf.string scalar)."""
        import tensorflow_datasets as tfds

        return self.builder.as_dataset(
            split=self.split,
            shuffle_files=False,
            decoders={"image": tfds.decode.SkipDecoding(), **decoders},
            read_config=tfds.ReadConfig(try_autocache=False),  # no cache of the whole split in memory
        )

    def labels(self, key="label"):
        """int64 [N]: each record's `key`, read in one pass without decoding an image."""
        labels = self.records().map(lambda record: record[key]).batch(8192)
        return np.concatenate([batch.numpy() for batch in labels] or [np.zeros(0, np.int64)]).astype(np.int64)

    def decode(self, encoded):
        """uint8 [H, W, C] of one encoded image (a tf.string scalar), cropped and resized."""
        import tensorflow as tf

        from keras_vae.data import image_files

        image = tf.io.decode_image(encoded, channels=self.source_shape[2], expand_animations=False)
        image = tf.ensure_shape(image, self.source_shape)
        return image_files.fit(image, self.size, self.crop)

    def stream(self, rows, shuffle_buffer=None, seed=None):
        """The records at `rows`, decoded: a `tf.data.Dataset` of (row: int64 scalar, image: uint8
        [H, W, C]) in file order, or shuffled through a buffer of `shuffle_buffer` encoded records
        (reshuffled every pass, seeded by `seed`).

        Args:
            rows: sorted int64 [M] row indices into the split.
            shuffle_buffer: records in the shuffle buffer (None: no shuffle).
            seed: the shuffle's seed, or None.

        Returns:
            a dataset of cardinality M.
        """
        import tensorflow as tf

        rows = np.asarray(rows, dtype=np.int64)
        ds = self.records().enumerate().map(lambda row, record: (row, record["image"]))
        if len(rows) < len(self):
            wanted = np.zeros(len(self), bool)
            wanted[rows] = True
            keep = tf.constant(wanted)
            ds = ds.filter(lambda row, _: keep[row]).take(len(rows))
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(rows)))
        if shuffle_buffer:
            ds = ds.shuffle(min(shuffle_buffer, max(len(rows), 1)), seed=seed, reshuffle_each_iteration=True)
        return ds.map(lambda row, encoded: (row, self.decode(encoded)), num_parallel_calls=tf.data.AUTOTUNE)

    def rows(self, indices):
        """uint8 [len(indices), H, W, C]: the images at `indices` (int, any order, repeats
        allowed), read by one pass over the records up to the last one asked for."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        wanted = np.unique(indices)
        out = np.empty((len(wanted), *self.shape[1:]), np.uint8)
        if len(wanted):
            for place, (_, image) in enumerate(self.stream(wanted).as_numpy_iterator()):
                out[place] = image
        return out[np.searchsorted(wanted, indices)]
