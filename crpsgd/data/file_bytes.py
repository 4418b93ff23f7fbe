"""A file's bytes as one uint8 array (the readers' input), with OS errors as one
:class:`~crpsgd.errors.DataFormatError` naming the file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from crpsgd.errors import DataFormatError


def read_file_bytes(path: str | os.PathLike, extra: int = 0) -> np.ndarray:
    """The bytes of ``path`` as a uint8 array with ``extra`` more (uninitialised) bytes.

    OS errors become :class:`DataFormatError` naming the file ("no such file", ...).
    """
    with os_errors_name(path):
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raw = f.read()
                buf = np.empty(len(raw) + extra, np.uint8)
                buf[: len(raw)] = np.frombuffer(raw, np.uint8)
                return buf
            size = st.st_size
            buf = np.empty(size + extra, np.uint8)
            view = memoryview(buf)
            got = 0
            while got < size:
                k = f.readinto(view[got:size])
                if not k:
                    break
                got += k
            if got < size:  # the file shrank while we read it
                buf = np.concatenate([buf[:got], buf[size:]])
            return buf


@contextmanager
def os_errors_name(path: str | os.PathLike) -> Iterator[None]:
    """Inside: an ``OSError`` while reading ``path`` becomes one :class:`DataFormatError`
    naming the file ("no such file", "is a directory", "permission denied", "cannot read")."""
    try:
        yield
    except FileNotFoundError:
        raise DataFormatError(str(path), None, "no such file") from None
    except IsADirectoryError:
        raise DataFormatError(str(path), None, "is a directory, not a data file") from None
    except PermissionError:
        raise DataFormatError(str(path), None, "permission denied") from None
    except OSError as e:
        raise DataFormatError(str(path), None, f"cannot read: {e.strerror or e}") from None


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of the file's bytes, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    with os_errors_name(path), open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
