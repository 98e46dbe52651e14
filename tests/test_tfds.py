"""TFDS datasets streamed from prepared files: the real builders (`tfds.builder`) reading
datasets written here by `tfds.dataset_builders.store_as_tfds_dataset`, since nothing can be
downloaded offline."""

import numpy as np
import pytest

from keras_vae.core.errors import UserError
from keras_vae.data import datasets as data
from keras_vae.data import image_files, tfds_stream

tfds = pytest.importorskip("tensorflow_datasets")


def prepare(data_dir, name, splits):
    """Write `splits` ({split: {feature: array [N, ...]}}) as the prepared TFDS dataset `name`,
    in order, with the features and version of TFDS's own builder of that name; every feature
    not given is zeros."""
    import tensorflow as tf

    builder = tfds.builder(name)
    info = builder.info.features.get_tensor_info()

    def zeros(spec, n):
        if spec.np_dtype is np.dtype(object) or spec.np_dtype is object:  # a text feature
            return np.full((n, *spec.shape), b"")
        return np.zeros((n, *spec.shape), spec.np_dtype)

    def filled(arrays):
        n = len(arrays["image"])
        return {**tf.nest.map_structure(lambda spec: zeros(spec, n), info), **arrays}

    splits = {split: filled(arrays) for split, arrays in splits.items()}
    tfds.dataset_builders.store_as_tfds_dataset(
        name=name,
        version=str(builder.info.version),
        features=builder.info.features,
        data_dir=str(data_dir),
        split_datasets={split: tf.data.Dataset.from_tensor_slices(arrays) for split, arrays in splits.items()},
        disable_shuffling=True,
    ).download_and_prepare()


@pytest.fixture
def fashion(tmp_path, monkeypatch):
    """A prepared `fashion_mnist` of 120 + 30 random images, as {split: (images, labels)}."""
    rng = np.random.default_rng(0)
    splits = {
        split: {"image": rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8), "label": rng.integers(0, 10, n)}
        for split, n in (("train", 120), ("test", 30))
    }
    prepare(tmp_path, "fashion_mnist", splits)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    return {split: (arrays["image"], arrays["label"]) for split, arrays in splits.items()}


def batches_of(dataset, split, **kwargs):
    batches = list(dataset.batches(split, 16, **kwargs))
    return {key: np.concatenate([batch[key].numpy() for batch in batches]) for key in batches[0]}


def test_a_tfds_split_is_a_stream_of_its_records_not_an_array(fashion):
    loaded = data.load("fashion_mnist").with_validation(0.2, seed=4)
    assert loaded.name == "fashion_mnist" and isinstance(loaded.train_images, tfds_stream.TfdsSplit)
    assert not hasattr(loaded.train_images, "array") and loaded.num_classes == 10
    images, labels = fashion["train"]
    for split in ("train", "validation"):
        rows = loaded.indices(split)
        examples = loaded.examples(split)
        np.testing.assert_array_equal(examples["images"] * 255, images[rows])
        np.testing.assert_array_equal(examples["labels"], labels[rows])
        # In file order, then shuffled: the same rows, each image with its own label.
        ordered = batches_of(loaded, split)
        np.testing.assert_array_equal(ordered["images"] * 255, images[rows])
        shuffled = batches_of(loaded, split, shuffle=True, seed=1)
        position = {image.tobytes(): row for row, image in zip(rows, images[rows])}
        seen = [position[np.rint(image * 255).astype(np.uint8).tobytes()] for image in shuffled["images"]]
        assert sorted(seen) == sorted(rows) and seen != sorted(seen)
        np.testing.assert_array_equal(shuffled["labels"], labels[seen])
    # The same seed gives the same batches; another seed another order; a limit is a prefix.
    again = batches_of(loaded, "train", shuffle=True, seed=1)
    np.testing.assert_array_equal(again["images"], batches_of(loaded, "train", shuffle=True, seed=1)["images"])
    assert not np.array_equal(again["labels"], batches_of(loaded, "train", shuffle=True, seed=2)["labels"])
    first = batches_of(loaded, "train", limit=10)
    np.testing.assert_array_equal(first["images"] * 255, images[loaded.indices("train")[:10]])
    np.testing.assert_array_equal(loaded.examples("test")["images"] * 255, fashion["test"][0])


def test_a_bounded_shuffle_buffer_still_visits_every_record_once(fashion):
    loaded = data.load("fashion_mnist")
    loaded.shuffle_buffer = 8  # a window of 8 records: each comes out at most 7 places early
    shuffled = batches_of(loaded, "train", shuffle=True, seed=0)
    images = fashion["train"][0]
    position = {image.tobytes(): row for row, image in enumerate(images)}
    seen = np.array([position[np.rint(image * 255).astype(np.uint8).tobytes()] for image in shuffled["images"]])
    assert sorted(seen) == list(range(120)) and (seen - np.arange(120)).max() <= 7


def test_tfds_images_are_cropped_and_resized_in_the_graph_like_a_folders(fashion, tmp_path):
    loaded = data.load("fashion_mnist", image_size=[12, 10], crop=20)
    assert loaded.image_shape == (12, 10, 1)
    assert data.known_model_params("fashion_mnist", [12, 10], 20) == {"image_shape": [12, 10, 1], "num_classes": 10}
    # The same picture as a PNG in a folder gives the same pixels.
    import tensorflow as tf

    picture = fashion["test"][0][3]
    path = tmp_path / "picture.png"
    path.write_bytes(tf.io.encode_png(picture).numpy())
    folder_pixels = image_files.decode(path, channels=1, size=(12, 10), crop=20, resize=True)
    np.testing.assert_array_equal(loaded.test_images.rows([3])[0], folder_pixels)
    with pytest.raises(UserError, match="crop=30 is larger than fashion_mnist's 28x28"):
        data.load("fashion_mnist", crop=30)


def test_celeb_a_streams_without_labels_at_the_peers_crop_and_size(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    photos = {
        split: {"image": rng.integers(0, 256, (n, 218, 178, 3), dtype=np.uint8)}
        for split, n in (("train", 6), ("test", 2))
    }
    prepare(tmp_path, "celeb_a", photos)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    faces = data.load("celeb_a", image_size=64, crop=148)
    assert faces.image_shape == (64, 64, 3) and faces.y_train is None and faces.keys == ("images",)
    batch = next(iter(faces.batches("train", 6)))["images"].numpy()
    assert batch.shape == (6, 64, 64, 3) and batch.dtype == np.float32
    # JPEG is lossy, so compare with the stored JPEG decoded and fitted by the folder code.
    stored = next(iter(faces.train_images.records()))["image"]
    path = tmp_path / "face.jpg"
    path.write_bytes(stored.numpy())
    np.testing.assert_array_equal(
        np.rint(batch[0] * 255), image_files.decode(path, channels=3, size=(64, 64), crop=148, resize=True)
    )


def test_an_unprepared_dataset_is_downloaded_only_when_the_network_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    prepared = []

    def download_and_prepare(builder, *args, **kwargs):  # stands in for the download
        rng = np.random.default_rng(2)
        arrays = {"image": rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), "label": np.arange(20) % 10}
        prepare(tmp_path, "cifar10", {"train": arrays, "test": arrays})
        prepared.append(builder.name)

    monkeypatch.setattr(type(tfds.builder("cifar10")), "download_and_prepare", download_and_prepare)
    with pytest.raises(data.DatasetUnavailable, match="cannot be downloaded"):
        data.load("cifar10")
    assert prepared == []
    monkeypatch.setattr(data, "network_available", lambda: True)
    assert data.load("cifar10").image_shape == (32, 32, 3) and prepared == ["cifar10"]
