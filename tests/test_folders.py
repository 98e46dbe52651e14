"""Folders of photos read file by file: image_size and a centre crop (CelebA's 178x218 -> 148 -> 64)."""

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from keras_vae.core.errors import UserError
from keras_vae.data import datasets as data
from keras_vae.data import image_files, stores

WIDTH, HEIGHT = 178, 218  # img_align_celeba


def write_jpegs(folder, n=40, size=(HEIGHT, WIDTH), seed=0):
    """n small JPEGs of smooth colour gradients (tiny files), sorted by name."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[0], 0 : size[1]]
    for i in range(n):
        a, b, c = rng.uniform(0.2, 1.0, 3)
        image = np.stack([x / size[1] * 255 * a, y / size[0] * 255 * b, (x + y) % 64 * 4 * c], -1)
        (folder / f"{i:03d}.jpg").write_bytes(tf.io.encode_jpeg(image.astype(np.uint8), quality=80).numpy())
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_jpegs(tmp_path_factory.mktemp("photos"))


def expected(path, crop, size):
    """An independent computation: decode, NumPy centre crop, tf.image.resize, round to uint8."""
    image = tf.io.decode_jpeg(tf.io.read_file(str(path)), channels=3).numpy()
    top, left = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2
    square = image[top : top + crop, left : left + crop]
    resized = tf.image.resize(square, (size, size), antialias=True).numpy()
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def test_headers_give_size_and_channels_without_decoding(tmp_path, photos):
    assert image_files.header(photos / "000.jpg") == (HEIGHT, WIDTH, 3)
    for channels, kind in [(1, 1), (2, 2), (3, 3), (4, 4)]:
        path = tmp_path / f"{channels}.png"
        path.write_bytes(tf.io.encode_png(np.zeros((5, 7, channels), np.uint8)).numpy())
        assert image_files.header(path) == (5, 7, kind)
    grey = tmp_path / "grey.jpg"
    grey.write_bytes(tf.io.encode_jpeg(np.zeros((9, 4, 1), np.uint8)).numpy())
    assert image_files.header(grey) == (9, 4, 1)
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8 not really")
    assert image_files.header(tmp_path / "junk.jpg") is None


def test_a_folder_loads_cropped_and_resized_and_a_batch_matches_an_independent_computation(photos):
    loaded = data.load(f"folder:{photos}", image_size=64, crop=148)
    assert loaded.image_shape == (64, 64, 3)
    assert isinstance(loaded.train_images, stores.Files) and len(loaded.x_test) == 4
    assert loaded.y_train is None  # a flat folder
    batch = next(iter(loaded.batches("train", 8)))["images"].numpy()
    train_files = [path for i, path in enumerate(sorted(photos.glob("*.jpg"))) if i % 10 != 9]
    want = np.stack([expected(path, 148, 64) for path in train_files[:8]])
    assert batch.shape == (8, 64, 64, 3) and batch.dtype == np.float32
    np.testing.assert_array_equal(np.round(batch * 255).astype(np.uint8), want)
    # [H, W] and no resize: the crop alone decides the size
    assert data.load(f"folder:{photos}", image_size=[32, 48], crop=148).image_shape == (32, 48, 3)
    cropped = data.load(f"folder:{photos}", crop=148)
    assert cropped.image_shape == (148, 148, 3)
    assert data.load(f"folder:{photos}").image_shape == (HEIGHT, WIDTH, 3)  # their own size, as before


def test_loading_decodes_no_file_and_a_batch_decodes_only_its_own(photos, monkeypatch):
    calls = []
    decode_image = tf.io.decode_image
    monkeypatch.setattr(tf.io, "decode_image", lambda *a, **k: calls.append(1) or decode_image(*a, **k))
    loaded = data.load(f"folder:{photos}", image_size=64, crop=148)
    at_load = len(calls)
    assert at_load <= 2  # headers only (none decoded here)
    loaded.examples("test")
    assert len(calls) - at_load == 4  # the patched decoder is the one in use: one call a file read


def test_a_corrupt_file_is_skipped_replaced_and_counted_after_each_pass(tmp_path, caplog):
    folder = write_jpegs(tmp_path / "photos", n=20)
    good = (folder / "003.jpg").read_bytes()
    (folder / "003.jpg").write_bytes(good[: len(good) // 2])  # a valid header, truncated data
    loaded = data.load(f"folder:{folder}", image_size=16, crop=148)
    assert len(loaded.train_images) == 18  # its header reads: it is listed
    with caplog.at_level(logging.WARNING):
        for _ in range(2):  # two epochs: counted after each
            batches = list(loaded.batches("train", 5))
    assert sum(len(b["images"]) for b in batches) == 18  # replaced, so every batch keeps its size
    reports = [r.getMessage() for r in caplog.records if "skipped 1 unreadable image file" in r.getMessage()]
    assert len(reports) == 2 and "003.jpg" in reports[0] and "train" in reports[0], caplog.text
    assert "Traceback" not in caplog.text
    # the replacement is the next readable file
    np.testing.assert_array_equal(loaded.train_images.rows([3]), loaded.train_images.rows([4]))


def test_labels_come_from_sub_folders_and_a_replacement_keeps_its_label(tmp_path):
    for label in ("a", "b"):
        write_jpegs(tmp_path / label, n=10, size=(40, 30), seed=ord(label))
    bad_file = tmp_path / "a" / "008.jpg"  # the last train file of label a (a/009 is a test file)
    bad_file.write_bytes(bad_file.read_bytes()[: bad_file.stat().st_size // 2])
    loaded = data.load(f"folder:{tmp_path}", image_size=8)
    assert loaded.image_shape == (8, 8, 3) and loaded.num_classes == 2
    store = loaded.train_images
    bad = [i for i, path in enumerate(store.paths) if path.endswith("a/008.jpg")]
    assert bad and loaded.y_train[bad[0]] == 0
    row = store.rows(bad)
    first_a = int(np.flatnonzero(store.groups == 0)[0])  # wraps round to the first file of label a
    np.testing.assert_array_equal(row, store.rows([first_a]))


def test_a_crop_larger_than_the_images_is_one_error_line(photos, tmp_path, caplog):
    with pytest.raises(UserError, match=r"crop=200 is larger than .*000\.jpg \(178x218 pixels\)"):
        data.load(f"folder:{photos}", crop=200)
    # later files smaller than the crop are skipped with a count
    folder = write_jpegs(tmp_path / "mixed", n=12)
    write_jpegs(tmp_path / "small", n=2, size=(100, 100))
    for i, path in enumerate(sorted((tmp_path / "small").glob("*.jpg"))):
        path.rename(folder / f"zz{i}.jpg")
    with caplog.at_level(logging.WARNING):
        loaded = data.load(f"folder:{folder}", crop=148)
    assert len(loaded.train_images) + len(loaded.test_images) == 12
    assert "skipped 2 image(s) smaller than crop=148" in caplog.text and "zz0.jpg" in caplog.text


def test_image_size_and_crop_are_for_folders_and_tfds_only():
    with pytest.raises(UserError, match="apply to folder: and TFDS datasets only"):
        data.load("mnist_5k", image_size=64)
    with pytest.raises(UserError, match="crop=148"):
        data.load("mnist_5k", crop=148)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("image_size=0", "image_size must be a positive integer"),
        ("image_size=[64]", "image_size must be"),
        ("image_size=[64,0]", "image_size must be"),
        ("image_size=[64,64]", None),  # [H, W]: accepted
        ("image_size=big", "image_size must be"),
        ("image_size=true", "image_size must be"),
        ("crop=0", "crop must be a positive integer"),
        ("crop=1.5", "crop must be a positive integer"),
        ("crop=200", "crop=200 is larger than"),
    ],
)
def test_bad_image_size_and_crop_are_one_error_line_at_the_cli(cli, photos, tmp_path, setting, message):
    if message is None:
        from keras_vae.runner.config import resolve

        assert resolve("conv_vae", {"dataset": f"folder:{photos}", "image_size": "[64,64]"}).image_size == (64, 64)
        return
    code, _, err = cli(
        "train", "conv_vae", "--set", f"dataset=folder:{photos}", "--set", setting, "--out", tmp_path / "run"
    )
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_a_conv_vae_trains_on_a_cropped_resized_folder(photos, tmp_path):
    from keras_vae.runner import runs, train

    overrides = {
        "dataset": f"folder:{photos}",
        "image_size": 64,
        "crop": 148,
        "epochs": 1,
        "batch_size": 16,
        "latent_dim": 4,
        "hidden_dim": 16,
    }
    model, run_dir = train.train("conv_vae", overrides, run_dir=tmp_path / "run", seed=0, verbose=0, limit=32)
    assert tuple(model.image_shape) == (64, 64, 3)
    stored = json.loads((run_dir / runs.CONFIG).read_text())
    assert stored["image_size"] == 64 and stored["crop"] == 148
    config = runs.read_config(run_dir)
    reloaded = data.load(config.dataset, image_size=config.image_size, crop=config.crop)
    reloaded.check_fits(model)


def test_file_names_that_are_not_utf8_are_read_and_named_in_the_skip_report(cli, tmp_path, caplog):
    import os

    folder = write_jpegs(tmp_path / "photos", n=20, size=(16, 16))
    for i in (3, 9):  # sorted last, so the renamed 009 is the 20th file: a test file (every 10th)
        os.rename(os.fsencode(folder / f"{i:03d}.jpg"), os.fsencode(folder) + b"/\xff\xfe%03d.jpg" % i)
    broken = os.fsencode(folder) + b"/\xff\xfe009.jpg"
    with open(broken, "r+b") as file:
        file.truncate(os.path.getsize(broken) // 2)
    loaded = data.load(f"folder:{folder}")
    assert len(loaded.train_images) + len(loaded.test_images) == 20  # both listed
    with caplog.at_level(logging.WARNING):
        list(loaded.batches("test", 4))
    assert any(
        "skipped 1 unreadable" in r.getMessage() and "\\xff\\xfe009.jpg" in r.getMessage() for r in caplog.records
    )
    code, out, err = cli(
        "train",
        "dense_vae",
        "--set",
        f"dataset=folder:{folder}",
        "--set",
        "hidden_sizes=[8]",
        "--epochs",
        1,
        "--out",
        tmp_path / "run",
    )
    assert code == 0 and "Traceback" not in err, err
