"""Where a split's images live, read a batch of rows at a time, in their stored dtype.

- `InMemory`: a NumPy array (uint8 0..255, or float32 in [0, 1]) that is small enough to hold
  (mnist_5k, a compressed npz, gzipped IDX files). The input pipeline gathers its rows inside
  the tf.data graph.
- `Computed`: rows made by a function as batches ask for them (dSprites from its cache).
- `FileRows`: an uncompressed array inside a file (an .npy member of an npz stored without
  compression, a raw IDX file): rows are read with `os.pread` as a batch asks for them, so the
  process holds one batch, not the dataset, and the kernel's page cache (not counted in the
  process's resident memory) does the caching.
- `Files`: one image file a row (a folder of photos), decoded, cropped and resized as a batch
  asks for it (`keras_vae.data.image_files.decode`); a file that does not decode is replaced by
  the next readable file of its label, and counted (`Skipped`).

Each gives `shape`, `dtype`, `len()` and `rows(indices)` -> array [len(indices), *shape[1:]] in
the stored dtype; the conversion to float32 happens in the tf.data graph
(`keras_vae.data.datasets.ImageData.batches`).
"""

import logging
import os
import threading

import numpy as np

from keras_vae.core.errors import UserError

log = logging.getLogger(__name__)


class InMemory:
    """Rows of an array held in memory.

    Args:
        array: [N, ...] uint8 or float32.
    """

    on_disk = False

    def __init__(self, array):
        self.array = array

    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        return self.array.dtype

    def __len__(self):
        return len(self.array)

    def rows(self, indices):
        """The rows at `indices` (int [n]), a copy in the stored dtype."""
        return self.array[np.asarray(indices)]


class FileRows:
    """Rows of a C-ordered array stored uncompressed at `offset` bytes into `path`.

    Args:
        path: the file.
        offset: where the array's first byte is.
        shape: the array's shape [N, ...].
        dtype: its NumPy dtype (uint8, or a float type for images in [0, 1]).
    """

    on_disk = True

    def __init__(self, path, offset, shape, dtype):
        self.path = str(path)
        self.offset = int(offset)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd = None
        self._pid = None

    def __len__(self):
        return self.shape[0]

    def __getstate__(self):  # a file descriptor does not cross processes
        return {**self.__dict__, "_fd": None, "_pid": None}

    def _descriptor(self):
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def rows(self, indices):
        """The rows at `indices` (int [n]), read from the file: runs of consecutive indices in
        one read each.

        Raises:
            IndexError: an index outside [0, N).
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= self.shape[0]):
            raise IndexError(f"row index out of range [0, {self.shape[0]}) in {self.path}")
        out = np.empty((indices.size, *self.shape[1:]), self.dtype)
        flat = out.reshape(indices.size, -1).view(np.uint8)
        fd = self._descriptor()
        start = 0
        while start < indices.size:  # one pread per run of consecutive rows
            end = start + 1
            while end < indices.size and indices[end] == indices[end - 1] + 1:
                end += 1
            length = (end - start) * self.row_bytes
            data = os.pread(fd, length, self.offset + int(indices[start]) * self.row_bytes)
            if len(data) != length:
                raise OSError(f"{self.path} is shorter than its header says")
            flat[start:end] = np.frombuffer(data, np.uint8).reshape(end - start, self.row_bytes)
            start = end
        return out

    def __del__(self):
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)


class Computed:
    """Rows made by a function, a batch at a time (a generated dataset read from its own cache).

    Args:
        shape: [N, ...] of the whole split.
        dtype: the rows' NumPy dtype.
        rows: a function (int64 indices [n]) -> array [n, *shape[1:]] of `dtype`.
    """

    on_disk = True  # read outside the graph, through tf.numpy_function

    def __init__(self, shape, dtype, rows):
        self.shape, self.dtype, self._rows = tuple(shape), np.dtype(dtype), rows

    def __len__(self):
        return self.shape[0]

    def rows(self, indices):
        """The rows at `indices` (int [n])."""
        return self._rows(np.asarray(indices, dtype=np.int64))


def printable(path):
    """A path as text that any stream can print: bytes of a file name that are not UTF-8 (kept
    by Python as surrogates) shown as escapes, e.g. `photos/\\xff\\xfe3.jpg`."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Skipped:
    """The files a reader could not decode since its last report, and a report of them.

    One per pipeline (`keras_vae.data.datasets.ImageData.batches` makes one for each split it
    streams and reports at the end of each pass); safe under parallel reads.

    Args:
        what: what is read, for the message (e.g. "folder:photos train").
    """

    def __init__(self, what):
        self.what = what
        self._paths = set()
        self._rows = 0
        self._lock = threading.Lock()

    def add(self, paths, rows):
        """Count `rows` rows replaced because the files `paths` (a set of str) did not decode."""
        with self._lock:
            self._paths |= paths
            self._rows += rows

    def report(self):
        """Log a warning with the count since the last report, if any, and start counting anew.

        Returns:
            the number of distinct files skipped since the last report.
        """
        with self._lock:
            paths, rows = sorted(self._paths), self._rows
            self._paths, self._rows = set(), 0
        if paths:
            log.warning(
                "%s: skipped %d unreadable image file(s) (%d row(s), each replaced by the next readable image "
                "of its label), e.g. %s",
                self.what,
                len(paths),
                rows,
                printable(paths[0]),
            )
        return len(paths)


class Files:
    """Rows that are image files, decoded on demand: the folder is never held in memory.

    A file that does not decode (`decode` raises ValueError) is remembered as unreadable and its
    row replaced by the next readable file (in order, wrapping round) of the same group (label),
    so a batch keeps its size and its labels; each such row is counted in the `Skipped` given to
    `rows`, or logged at once without one.

    Args:
        paths: the files, one a row (a sequence of str or Path).
        shape: [N, H, W, C] of the decoded rows (N = len(paths)).
        decode: a picklable function (path str) -> uint8 array [H, W, C] that raises ValueError for
            a file it cannot decode (`functools.partial` of `keras_vae.data.image_files.decode`).
        groups: int [N] (labels), or None: a replacement comes from the same group.
        name: what the files are, for messages (e.g. "folder:photos x_train").
    """

    on_disk = True  # read outside the graph, through tf.numpy_function
    dtype = np.dtype(np.uint8)

    def __init__(self, paths, shape, decode, groups=None, name="files"):
        self.paths = [str(path) for path in paths]
        self.shape = tuple(int(s) for s in shape)
        if self.shape[0] != len(self.paths):
            raise ValueError(f"{len(self.paths)} files for {self.shape[0]} rows")
        self.decode = decode
        self.groups = None if groups is None else np.asarray(groups)
        self.name = name
        self.unreadable = set()  # row indices whose file did not decode
        self._lock = threading.Lock()

    def __len__(self):
        return self.shape[0]

    def __getstate__(self):  # a lock does not cross processes
        return {key: value for key, value in self.__dict__.items() if key != "_lock"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def rows(self, indices, skipped=None):
        """The rows at `indices` (int [n]): each file decoded, or replaced if it does not decode.

        Args:
            indices: int [n] in [0, N).
            skipped: a `Skipped` that counts the replaced rows, or None to log them now.

        Returns:
            uint8 [n, H, W, C].

        Raises:
            IndexError: an index outside [0, N).
            UserError: no file of a row's group decodes.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= self.shape[0]):
            raise IndexError(f"row index out of range [0, {self.shape[0]}) in {self.name}")
        out = np.empty((indices.size, *self.shape[1:]), np.uint8)
        met = set()
        for k, index in enumerate(indices):
            out[k] = self._row(int(index), met)
        if met:
            tally = skipped or Skipped(self.name)
            tally.add({self.paths[i] for i in met}, sum(int(i) in met for i in indices))
            if skipped is None:
                tally.report()
        return out

    def _row(self, index, met):
        """The decoded file of row `index`, or of the next readable row of its group (`met`
        collects `index` if its own file does not decode)."""
        image = self._decoded(index)
        if image is not None:
            return image
        met.add(index)
        for candidate in self._others(index):
            image = self._decoded(candidate)
            if image is not None:
                return image
        raise UserError(f"{self.name}: no readable image file left for row {index} ({self.paths[index]})")

    def _decoded(self, index):
        """Row `index`'s file decoded, or None if it does not decode (remembered: never tried again)."""
        if index in self.unreadable:
            return None
        try:
            return self.decode(self.paths[index])
        except ValueError as error:
            log.debug("%s", error)
            with self._lock:
                self.unreadable.add(index)
            return None

    def _others(self, index):
        """The other rows of row `index`'s group, in order after it, wrapping round."""
        n = self.shape[0]
        order = (np.arange(1, n) + index) % n
        if self.groups is not None:
            order = order[self.groups[order] == self.groups[index]]
        return (int(i) for i in order)


def npz_member(path, name):
    """A `FileRows` for array `name` of the npz archive `path` if the archive stores it without
    compression (numpy.savez), else None (numpy.savez_compressed: the caller reads it into
    memory).

    The member is an .npy file inside the zip: its data starts after the zip's local file header
    and the .npy header, both read here.
    """
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        with open(path, "rb") as raw:
            raw.seek(info.header_offset)
            header = raw.read(30)  # the local file header: its name and extra field lengths at 26..30
            name_length = int.from_bytes(header[26:28], "little")
            extra_length = int.from_bytes(header[28:30], "little")
            member_start = info.header_offset + 30 + name_length + extra_length
            raw.seek(member_start)
            version = np.lib.format.read_magic(raw)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(raw)
            data_start = raw.tell()
    if fortran or dtype.hasobject:
        return None
    return FileRows(path, data_start, shape, dtype)
