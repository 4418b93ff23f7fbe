"""Reader of the CIFAR-10 binary format (``data_batch_1.bin`` ... ``test_batch.bin``).

Each record is 3073 bytes: one label byte (0..9), then a 32 x 32 image as 1024 red, 1024
green and 1024 blue bytes, rows top to bottom. A file is a sequence of such records and
nothing else. The reader never unpickles anything (the Python version of the data set is
pickled; use the binary version): it reads bytes, checks them and reshapes them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from crpsgd.errors import DataFormatError

RECORD_BYTES = 1 + 3 * 32 * 32
N_CLASSES = 10


def read_cifar10_binary(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (n, 3, 32, 32)`` (channel, row, column) and labels ``uint8 (n,)``.

    A file whose size is not a positive multiple of 3073 bytes, or a record whose label is
    not in 0..9, is one :class:`DataFormatError` naming the file and the record (1-based,
    reported where the LIBSVM reader reports a line).
    """
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataFormatError(path, None, "no such file") from None
    except (OSError, ValueError) as exc:
        raise DataFormatError(path, None, f"cannot read: {exc}") from None
    if raw.size == 0:
        raise DataFormatError(path, None, "empty file: no CIFAR-10 records")
    full, rest = divmod(raw.size, RECORD_BYTES)
    if rest:
        raise DataFormatError(
            path,
            full + 1,
            f"record {full + 1} is truncated: {rest} of {RECORD_BYTES} bytes "
            f"(file size {raw.size} is not a multiple of {RECORD_BYTES})",
        )
    records = raw.reshape(full, RECORD_BYTES)
    labels = records[:, 0].copy()
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        first = int(bad[0])
        raise DataFormatError(
            path, first + 1, f"record {first + 1} has label {labels[first]}, not in 0..9"
        )
    images = records[:, 1:].reshape(full, 3, 32, 32).copy()
    return images, labels
