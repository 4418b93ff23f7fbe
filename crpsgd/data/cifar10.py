"""Reader and writer of the CIFAR-10 binary format (``data_batch_1.bin`` ... ``test_batch.bin``).

Each record is 3073 bytes: one label byte (0..9), then a 32 x 32 image as 1024 red, 1024
green and 1024 blue bytes, rows top to bottom. A file is a sequence of such records and
nothing else. The reader never unpickles anything (the Python version of the data set is
pickled; use the binary version): it reads bytes, checks them and reshapes them.

A source ``cifar10:DIR`` names a directory with the five training files
``data_batch_1.bin`` ... ``data_batch_5.bin`` (rows in that order) and ``test_batch.bin``.
Records have a fixed size, so rank ``r`` of ``N`` reads only its own rows
``shard_bounds(n, r, N)`` of the concatenated training files: it seeks to them and checks
only them (the other files' sizes come from ``stat``). A directory may hold a one-line
``SOURCE.txt`` saying what the images are (the digits stand-in writes one); the run log's
data identity carries it, so that every figure can say which data it ran on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from crpsgd.data.shard import shard_bounds
from crpsgd.errors import DataFormatError, UsageError

RECORD_BYTES = 1 + 3 * 32 * 32
N_CLASSES = 10
PREFIX = "cifar10:"
TRAIN_FILES = tuple(f"data_batch_{k}.bin" for k in range(1, 6))
TEST_FILE = "test_batch.bin"
SOURCE_NOTE = "SOURCE.txt"
#: Per-channel mean and standard deviation (R, G, B) of the CIFAR-10 training images scaled
#: to [0, 1]; images are normalised as ``(pixel / 255 - mean) / std`` whatever DIR holds.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def read_cifar10_binary(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (n, 3, 32, 32)`` (channel, row, column) and labels ``uint8 (n,)``.

    A file whose size is not a positive multiple of 3073 bytes, or a record whose label is
    not in 0..9, is one :class:`DataFormatError` naming the file and the record (1-based,
    reported where the LIBSVM reader reports a line).
    """
    n = record_count(path)
    return read_cifar10_records(path, 0, n)


def record_count(path: str | os.PathLike) -> int:
    """Number of records of a CIFAR-10 binary file, from its size alone (nothing is read).

    A size that is zero or not a multiple of 3073 is a :class:`DataFormatError` naming the
    file and the truncated record.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataFormatError(path, None, "no such file") from None
    except OSError as exc:
        raise DataFormatError(path, None, f"cannot read: {exc}") from None
    if path.is_dir():
        raise DataFormatError(path, None, "is a directory, not a CIFAR-10 binary file")
    if size == 0:
        raise DataFormatError(path, None, "empty file: no CIFAR-10 records")
    full, rest = divmod(size, RECORD_BYTES)
    if rest:
        raise DataFormatError(
            path,
            full + 1,
            f"record {full + 1} is truncated: {rest} of {RECORD_BYTES} bytes "
            f"(file size {size} is not a multiple of {RECORD_BYTES})",
        )
    return full


def read_cifar10_records(
    path: str | os.PathLike, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Records ``[start, stop)`` (0-based) of one file: images ``uint8 (k, 3, 32, 32)`` and
    labels ``uint8 (k,)``. Seeks to record ``start`` and reads ``stop - start`` records only;
    a label not in 0..9 is a :class:`DataFormatError` naming the file and record (1-based)."""
    path = Path(path)
    k = stop - start
    raw = np.empty((k, RECORD_BYTES), dtype=np.uint8)
    try:
        with open(path, "rb") as f:
            f.seek(start * RECORD_BYTES)
            got = f.readinto(memoryview(raw).cast("B"))
    except FileNotFoundError:
        raise DataFormatError(path, None, "no such file") from None
    except OSError as exc:
        raise DataFormatError(path, None, f"cannot read: {exc}") from None
    if got != raw.nbytes:
        record = start + got // RECORD_BYTES + 1
        raise DataFormatError(path, record, f"record {record} is truncated (file changed?)")
    labels = raw[:, 0].copy()
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        first = start + int(bad[0])
        raise DataFormatError(
            path, first + 1, f"record {first + 1} has label {labels[bad[0]]}, not in 0..9"
        )
    return raw[:, 1:].reshape(k, 3, 32, 32).copy(), labels


def read_cifar10_shard(
    paths: list[Path] | tuple[Path, ...], rank: int, size: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """This rank's rows of the files ``paths`` read as one sequence of records.

    Returns images ``uint8 (k, 3, 32, 32)``, labels ``int64 (k,)`` and the total row count
    ``n`` over all files; the rows are ``shard_bounds(n, rank, size)``.
    """
    counts = [record_count(p) for p in paths]
    n = sum(counts)
    if size > n:
        raise UsageError(f"{size} ranks but only {n} rows in {', '.join(map(str, paths))}")
    start, stop = shard_bounds(n, rank, size)
    images, labels, first = [], [], 0
    for path, count in zip(paths, counts, strict=True):
        lo, hi = max(start, first) - first, min(stop, first + count) - first
        if lo < hi:
            im, lab = read_cifar10_records(path, lo, hi)
            images.append(im)
            labels.append(lab)
        first += count
    return np.concatenate(images), np.concatenate(labels).astype(np.int64), n


def is_cifar10_source(source: str) -> bool:
    return source.startswith(PREFIX)


def source_folder(source: str) -> str:
    """The folder ``DIR`` of ``cifar10:DIR``."""
    return source[len(PREFIX) :]


def cifar10_paths(
    source: str, need_train: bool = True, need_test: bool = True, flag: str = "--data"
) -> tuple[tuple[Path, ...], Path]:
    """The training files and the test file of ``cifar10:DIR``; those needed (the training
    files of ``--data``; the test file unless ``--test-data`` names another) must exist, else
    an error naming ``flag``, the source and the file."""
    if not is_cifar10_source(source) or not source[len(PREFIX) :]:
        raise UsageError(f"{flag}={source}: expected cifar10:DIR")
    root = Path(source[len(PREFIX) :])
    if not root.is_dir():
        raise UsageError(f"{flag}={source}: {root} is not a directory")
    train = tuple(root / name for name in TRAIN_FILES)
    needed = (*(train if need_train else ()), *((root / TEST_FILE,) if need_test else ()))
    for path in needed:
        if not path.is_file():
            raise DataFormatError(path, None, f"no such file (needed by {flag}={source})")
    return train, root / TEST_FILE


def write_cifar10_binary(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """Write ``uint8 (n, 3, 32, 32)`` images and labels in 0..9 as one CIFAR-10 binary file."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"images must be uint8 (n, 3, 32, 32), not {images.dtype} {images.shape}")
    if labels.shape != images.shape[:1] or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise ValueError("labels must be one value in 0..9 per image")
    raw = np.empty((images.shape[0], RECORD_BYTES), dtype=np.uint8)
    raw[:, 0] = labels
    raw[:, 1:] = images.reshape(images.shape[0], -1)
    raw.tofile(path)


def cifar10_identity(source: str) -> dict[str, str]:
    """What the run log records about ``cifar10:DIR``: ``{"path", "sha256", "kind", "note"}``.

    ``sha256`` digests the six files' own digests in order (training files, then test; a
    file the run does not need and the folder lacks is left out);
    ``note`` is the first line of ``DIR/SOURCE.txt``, else ``"CIFAR-10 binary version"``.
    """
    train, test = cifar10_paths(source, need_train=False, need_test=False)
    outer = hashlib.sha256()
    for path in (*train, test):
        if not path.is_file():  # the folder of --test-data alone, or --data given --test-data
            continue
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        outer.update(h.hexdigest().encode("ascii"))
    note_path = test.parent / SOURCE_NOTE
    note = "CIFAR-10 binary version"
    if note_path.is_file():
        try:
            lines = note_path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataFormatError(
                note_path, None, f"not UTF-8 text (byte {exc.start}); the note must be text"
            ) from None
        note = lines[0].strip() if lines and lines[0].strip() else note
    return {"path": source, "sha256": outer.hexdigest(), "kind": "cifar10", "note": note}
