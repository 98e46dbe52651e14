"""keras_vae.data.idx: MNIST-layout IDX files, written here by an independent struct-based writer."""

import gzip
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_vae.core.errors import UserError
from keras_vae.data import idx


def idx_bytes(array, code=0x08):
    """The IDX encoding of `array`: two zero bytes, dtype code, ndims, big-endian uint32 dims, data."""
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1" if code == 0x08 else array.dtype).tobytes()


def write(path, data):
    """Write `data` (bytes) to `path`, gzip-compressed if the name ends in .gz; returns the path."""
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)


@pytest.fixture
def labels(rng):
    return rng.integers(0, 10, size=7, dtype=np.uint8)


def write_folder(folder, n_train=7, n_test=3, gz=False, rng=None):
    """Four IDX files of random images [N, 28, 28] and labels [N]; returns the arrays written."""
    rng = rng or np.random.default_rng(1)
    folder.mkdir(exist_ok=True)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    for role, array in arrays.items():
        write(folder / (idx.FILES[role] + (".gz" if gz else "")), idx_bytes(array))
    return arrays


def test_the_writer_matches_the_format_s_documented_magic_numbers(images, labels):
    assert idx_bytes(images)[:4] == bytes.fromhex("00000803") and idx_bytes(labels)[:4] == bytes.fromhex("00000801")
    assert idx_bytes(labels)[4:8] == struct.pack(">I", 7)


def test_a_raw_file_reads_back_equal_as_a_read_only_memmap(tmp_path, images, labels):
    for array, name in ((images, "images-idx3-ubyte"), (labels, "labels-idx1-ubyte")):
        read = idx.read_idx(write(tmp_path / name, idx_bytes(array)))
        assert isinstance(read, np.memmap)
        assert read.dtype == np.uint8 and read.shape == array.shape
        np.testing.assert_array_equal(read, array)
        assert not read.flags.writeable


def test_a_gz_file_reads_back_equal_in_memory(tmp_path, images):
    read = idx.read_idx(write(tmp_path / "images-idx3-ubyte.gz", idx_bytes(images)))
    assert not isinstance(read, np.memmap) and read.dtype == np.uint8 and read.shape == (7, 5, 4)
    np.testing.assert_array_equal(read, images)
    assert not read.flags.writeable


def test_an_empty_data_part_reads_as_an_empty_array(tmp_path):
    read = idx.read_idx(write(tmp_path / "empty-idx3-ubyte", idx_bytes(np.zeros((0, 28, 28), np.uint8))))
    assert read.shape == (0, 28, 28) and read.dtype == np.uint8


def one_line_error(call, *names):
    """The message of the UserError `call()` raises, checked to be one line naming all of `names`."""
    with pytest.raises(UserError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    for name in names:
        assert str(name) in message, (name, message)
    return message


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_each_bad_file_is_one_user_error_line_naming_the_file_and_the_problem(tmp_path, images, suffix):
    good = idx_bytes(images)
    cases = {
        "missing": (None, "no such file"),
        "truncated data": (good[:-1], "truncated"),
        "truncated header": (good[:6], "truncated"),
        "shorter than the magic": (good[:2], "truncated"),
        "longer than the header says": (good + b"\x00", "bytes after the data"),
        "wrong magic": (b"\x89PNG" + good[4:], "wrong magic number 0x89504e47"),
        "float32": (idx_bytes(images.astype(np.float32), code=0x0D), "dtype code 0x0d (float32)"),
        "unknown dtype code": (b"\x00\x00\x07\x03" + good[4:], "dtype code 0x07"),
    }
    for i, (case, (data, problem)) in enumerate(cases.items()):
        path = tmp_path / f"case{i}-idx3-ubyte{suffix}"
        if data is not None:
            write(path, data)
        message = one_line_error(lambda path=path: idx.read_idx(path, ndim=3), path, problem)
        assert message.startswith("IDX file"), (case, message)
    # Wrong number of dimensions: images read as labels, labels as images.
    path = write(tmp_path / f"images-idx3-ubyte{suffix}", good)
    one_line_error(lambda: idx.read_idx(path, ndim=1), path, "3 dimensions", "expected 1")


def test_compression_that_does_not_match_the_name_is_one_user_error_line(tmp_path, images):
    data = idx_bytes(images)
    gz_named_raw = tmp_path / "raw-idx3-ubyte"
    gz_named_raw.write_bytes(gzip.compress(data))
    one_line_error(lambda: idx.read_idx(gz_named_raw), gz_named_raw, "wrong magic", "name it .gz")
    raw_named_gz = tmp_path / "raw-idx3-ubyte.gz"
    raw_named_gz.write_bytes(data)
    one_line_error(lambda: idx.read_idx(raw_named_gz), raw_named_gz, "not gzip-compressed")
    cut_gz = tmp_path / "cut-idx3-ubyte.gz"
    cut_gz.write_bytes(gzip.compress(data)[:-12])
    one_line_error(lambda: idx.read_idx(cut_gz), cut_gz, "truncated")
    one_line_error(lambda: idx.read_idx(tmp_path), tmp_path, "not a regular file")


@pytest.mark.parametrize("gz", [False, True])
def test_read_folder_reads_the_four_files_back_equal(tmp_path, gz):
    written = write_folder(tmp_path / "mnist", gz=gz)
    read = idx.read_folder(tmp_path / "mnist")
    for array, role in zip(read, ("x_train", "y_train", "x_test", "y_test"), strict=True):
        assert array.dtype == np.uint8 and isinstance(array, np.memmap) != gz
        np.testing.assert_array_equal(array, written[role])
    assert idx.offline_fashion_mnist(tmp_path / "mnist") == tmp_path / "mnist"


def test_read_folder_takes_the_raw_file_when_both_are_there_and_mixes_raw_and_gz(tmp_path):
    written = write_folder(tmp_path / "mixed", gz=True)
    raw = tmp_path / "mixed" / idx.FILES["x_test"]
    raw.write_bytes(idx_bytes(written["x_test"]))
    (tmp_path / "mixed" / (idx.FILES["y_train"] + ".gz")).unlink()
    (tmp_path / "mixed" / idx.FILES["y_train"]).write_bytes(idx_bytes(written["y_train"]))
    x_train, y_train, x_test, _ = idx.read_folder(tmp_path / "mixed")
    assert isinstance(x_test, np.memmap) and isinstance(y_train, np.memmap) and not isinstance(x_train, np.memmap)
    np.testing.assert_array_equal(y_train, written["y_train"])


def test_read_folder_errors_are_one_line_each(tmp_path):
    one_line_error(lambda: idx.read_folder(tmp_path / "nowhere"), tmp_path / "nowhere", "no such folder")
    for role, stem in idx.FILES.items():
        folder = tmp_path / f"without-{role}"
        write_folder(folder, gz=role.endswith("test"))
        next(folder.glob(stem + "*")).unlink()
        one_line_error(lambda folder=folder: idx.read_folder(folder), folder, f"no {stem} (nor {stem}.gz)")
        assert idx.offline_fashion_mnist(folder) is None
    # Labels not as many as the images.
    folder = tmp_path / "counts"
    write_folder(folder)
    write(folder / idx.FILES["y_test"], idx_bytes(np.zeros(4, np.uint8)))
    one_line_error(lambda: idx.read_folder(folder), "t10k-labels-idx1-ubyte has 4 labels", "3 images")
    # Images and labels swapped: the wrong number of dimensions, naming the file.
    folder = tmp_path / "swapped"
    write_folder(folder)
    shutil.copy(folder / idx.FILES["y_train"], folder / idx.FILES["x_train"])
    one_line_error(lambda: idx.read_folder(folder), folder / idx.FILES["x_train"], "1 dimensions", "expected 3")
    # Train and test images of different sizes.
    folder = tmp_path / "sizes"
    write_folder(folder)
    write(folder / idx.FILES["x_test"], idx_bytes(np.zeros((3, 32, 32), np.uint8)))
    one_line_error(lambda: idx.read_folder(folder), "train images are 28 x 28 but test images 32 x 32")


def test_offline_fashion_mnist_is_none_without_the_folder(tmp_path):
    assert idx.offline_fashion_mnist(tmp_path / "nowhere") is None
    assert idx.DEBIAN_FASHION_MNIST == "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(
    not os.path.isdir(idx.DEBIAN_FASHION_MNIST),
    reason=f"no {idx.DEBIAN_FASHION_MNIST} (Debian package dataset-fashion-mnist; .ci/run installs it)",
)
def test_debian_s_fashion_mnist_is_the_real_60000_and_10000_images():
    assert idx.offline_fashion_mnist() == idx.DEBIAN_FASHION_MNIST
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = idx.read_folder(idx.offline_fashion_mnist())
    seconds = time.perf_counter() - start
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    np.testing.assert_array_equal(np.bincount(y_train, minlength=11), [6_000] * 10 + [0])  # labels 0..9
    np.testing.assert_array_equal(np.bincount(y_test, minlength=11), [1_000] * 10 + [0])
    assert y_train[0] == 9  # Fashion-MNIST's first training image is an ankle boot
    assert 0 < x_train.mean() < 255 and x_train.max() == 255
    assert seconds < 30, f"reading the Debian files took {seconds:.1f} s"


def test_the_module_imports_neither_tensorflow_nor_keras_vae_above_core():
    code = "import sys, keras_vae.data.idx; print(' '.join(sorted(sys.modules)))"
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "torch")]
    assert {m for m in modules if m.startswith("keras_vae")} == {
        "keras_vae",
        "keras_vae.core",
        "keras_vae.core.errors",
        "keras_vae.data",
        "keras_vae.data.idx",
    }
