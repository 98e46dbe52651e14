"""The IDX files of the original MNIST and Fashion-MNIST distributions, read with numpy alone.

An IDX file is a 4-byte big-endian magic number (two zero bytes, a dtype code, the number of
dimensions), one big-endian uint32 per dimension, then the data in C order. MNIST and Fashion-MNIST
ship four of them, each also found gzip-compressed (a `.gz` suffix):

    train-images-idx3-ubyte   magic 0x00000803: uint8 images [60000, 28, 28]
    train-labels-idx1-ubyte   magic 0x00000801: uint8 labels [60000], 0..9
    t10k-images-idx3-ubyte    uint8 images [10000, 28, 28]
    t10k-labels-idx1-ubyte    uint8 labels [10000]

Only dtype code 0x08 (uint8) is read: the other codes (int8, int16, int32, float32, float64) occur
in no dataset this project reads. Debian's package `dataset-fashion-mnist` installs the four
gzip-compressed Fashion-MNIST files in `DEBIAN_FASHION_MNIST`; `offline_fashion_mnist()` says
whether they are there.

This module imports numpy and the standard library only (no TensorFlow), and of keras_vae only
`keras_vae.core.errors`.
"""

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from keras_vae.core.errors import UserError

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
# The four files of a folder, by role, without the optional ".gz" suffix.
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
UINT8 = 0x08
# The other dtype codes of the format, named in the error for a file that uses one.
OTHER_DTYPES = {0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path, ndim=None):
    """The array stored in the IDX file `path`, uncompressed or gzip-compressed (name ends in .gz).

    An uncompressed file is memory-mapped read-only at the data's offset (an `np.memmap`, nothing
    copied nor read until used; pages come from the OS's file cache). A `.gz` file is decompressed
    once, whole, into memory (47 MB for the 60,000 uint8 images of 28 x 28 of MNIST's training
    set) and returned as a read-only array over those bytes.

    Args:
        path: str or os.PathLike, the file.
        ndim: int or None, the number of dimensions the file must have (3 for images
            [N, rows, cols], 1 for labels [N]); None accepts any.

    Returns:
        np.ndarray of dtype uint8 and the header's shape, e.g. [N, rows, cols]; read-only.
        An `np.memmap` for an uncompressed file whose data is not empty.

    Raises:
        UserError: one line naming the file and the problem: it is missing or not a file, is
            truncated (fewer bytes than its header's dimensions say) or longer than they say, is
            not gzip-compressed or is corrupt although named .gz, has a magic number that is not
            IDX's, a dtype code other than 0x08 (uint8), or not `ndim` dimensions.
    """
    name = str(path)
    if not os.path.exists(path):
        raise UserError(f"IDX file {name}: no such file")
    if not os.path.isfile(path):
        raise UserError(f"IDX file {name}: not a regular file")
    if name.endswith(".gz"):
        data = _decompress(path, name)
        shape, offset = _header(data[:4], lambda n: data[4 : 4 + n], name, ndim)
        _check_size(len(data), offset, shape, name)
        return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)  # read-only: over bytes
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        shape, offset = _header(file.read(4), file.read, name, ndim)
    _check_size(size, offset, shape, name)
    if np.prod(shape, dtype=np.int64) == 0:
        empty = np.zeros(shape, dtype=np.uint8)  # mmap cannot map zero bytes
        empty.setflags(write=False)
        return empty
    return np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=shape)


def _decompress(path, name):
    """The decompressed bytes of the gzip file `path` (`name` for errors)."""
    try:
        with gzip.open(path, "rb") as file:
            return file.read()
    except gzip.BadGzipFile:
        raise UserError(f"IDX file {name}: not gzip-compressed, although its name ends in .gz") from None
    except EOFError:
        raise UserError(f"IDX file {name}: truncated (the gzip stream ends early)") from None
    except (zlib.error, OSError) as error:
        raise UserError(f"IDX file {name}: corrupt gzip data ({error})") from None


def _header(magic, read, name, ndim):
    """(shape, data offset) from the 4 `magic` bytes and `read(n)` giving the next n bytes.

    Args:
        magic: bytes, the file's first (up to) 4 bytes.
        read: callable, n -> the n bytes after the magic number (fewer at the end of the file).
        name: str, the file, for errors.
        ndim: int or None, the number of dimensions required.

    Returns:
        (tuple of int, int): the shape and the data's offset in bytes (4 + 4 * len(shape)).

    Raises:
        UserError: a truncated header, a magic number that is not IDX's, a dtype other than uint8,
            or not `ndim` dimensions.
    """
    if len(magic) < 4:
        raise UserError(f"IDX file {name}: truncated ({len(magic)} bytes, shorter than the 4-byte magic number)")
    if magic[:2] != b"\x00\x00":
        hint = " (gzip-compressed? then name it .gz)" if magic[:2] == GZIP_MAGIC else ""
        raise UserError(
            f"IDX file {name}: wrong magic number 0x{magic.hex()}{hint}; IDX files start with two zero bytes, "
            "e.g. 0x00000803 (uint8 images) or 0x00000801 (uint8 labels)"
        )
    code, dims = magic[2], magic[3]
    if code != UINT8:
        kind = OTHER_DTYPES.get(code, "not an IDX dtype")
        raise UserError(f"IDX file {name}: dtype code 0x{code:02x} ({kind}); only 0x08 (uint8) is read")
    if ndim is not None and dims != ndim:
        raise UserError(f"IDX file {name}: {dims} dimensions (magic 0x{magic.hex()}), expected {ndim}")
    header = read(4 * dims)
    if len(header) < 4 * dims:
        raise UserError(f"IDX file {name}: truncated in its header ({dims} dimensions need {4 + 4 * dims} bytes)")
    return struct.unpack(f">{dims}I", header), 4 + 4 * dims


def _check_size(size, offset, shape, name):
    """Raise one UserError line unless `size` bytes are the header and exactly the data `shape` says."""
    expected = offset + int(np.prod(shape, dtype=object))
    shape_text = " x ".join(str(d) for d in shape) or "a scalar"
    if size < expected:
        raise UserError(f"IDX file {name}: truncated, {size:,} bytes where its header ({shape_text}) says {expected:,}")
    if size > expected:
        raise UserError(
            f"IDX file {name}: {size - expected:,} bytes after the data its header ({shape_text}) describes"
        )


def find_files(folder):
    """The paths of the four MNIST-layout IDX files in `folder`, each uncompressed or .gz.

    Args:
        folder: str or os.PathLike.

    Returns:
        (dict, list): {role: Path} for the files found (roles "x_train", "y_train", "x_test",
        "y_test"; the uncompressed file when both are there) and the names (without .gz) of those
        missing, in `FILES` order.
    """
    found, missing = {}, []
    for role, stem in FILES.items():
        for candidate in (Path(folder) / stem, Path(folder) / f"{stem}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(stem)
    return found, missing


def read_folder(folder):
    """The four arrays of a folder holding MNIST's (or Fashion-MNIST's) IDX files.

    Each file may be uncompressed (memory-mapped) or gzip-compressed (decompressed into memory);
    see `read_idx`.

    Args:
        folder: str or os.PathLike, holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
            t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each with or without .gz.

    Returns:
        (x_train, y_train, x_test, y_test): read-only uint8 arrays, images [N, rows, cols] and
        labels [N] (for MNIST and Fashion-MNIST rows = cols = 28, N = 60,000 train and 10,000 test).

    Raises:
        UserError: one line: the folder is missing, a file is missing (named), a file is bad (see
            `read_idx`; images need 3 dimensions, labels 1), a split's labels are not as many as
            its images, or the train and test images differ in size.
    """
    if not os.path.isdir(folder):
        raise UserError(f"IDX folder {folder}: no such folder")
    found, missing = find_files(folder)
    if missing:
        raise UserError(f"IDX folder {folder}: no {missing[0]} (nor {missing[0]}.gz)")
    arrays = {role: read_idx(path, ndim=3 if role.startswith("x") else 1) for role, path in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(labels) != len(images):
            raise UserError(
                f"IDX folder {folder}: {found[f'y_{split}'].name} has {len(labels):,} labels but "
                f"{found[f'x_{split}'].name} has {len(images):,} images"
            )
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        train, test = (" x ".join(map(str, arrays[r].shape[1:])) for r in ("x_train", "x_test"))
        raise UserError(f"IDX folder {folder}: train images are {train} but test images {test}")
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def offline_fashion_mnist(folder=DEBIAN_FASHION_MNIST):
    """`folder` if it holds Fashion-MNIST's four IDX files (Debian's `dataset-fashion-mnist`), else None.

    Only looks for the files (uncompressed or .gz), reading none of them.

    Args:
        folder: str or os.PathLike, where to look; Debian's install folder by default.

    Returns:
        `folder` as given, or None if it or any of the four files is missing.
    """
    return folder if os.path.isdir(folder) and not find_files(folder)[1] else None
