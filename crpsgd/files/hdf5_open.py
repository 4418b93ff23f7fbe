"""Opening the HDF5 files crpsgd reads back (run logs, checkpoints) so that a damaged copy
is one message naming it, never a hang.

A file cut short (``head -c``, a copy or transfer interrupted, a full disk while copying)
is shorter than the end-of-file address its superblock records. A plain HDF5 open refuses
it with a long error text or a "Can't decode ..." from deep inside the file; the SWMR open
that a log whose writer was killed needs retries the missing metadata for a very long time
instead of failing. :func:`hdf5_truncation` compares the two numbers before HDF5 opens the
file, and :func:`refuse_truncated` turns a cut into one
:class:`~crpsgd.errors.DataFormatError` naming the file.

A file of full length whose metadata is damaged (bytes overwritten) makes the same SWMR
reader retry each failing checksum for hours. :func:`refuse_unreadable_swmr` reads every
attribute and object header once in a child process first, and refuses the file when the
child has not finished within :data:`SWMR_PROBE_S` seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crpsgd.errors import DataFormatError

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def hdf5_truncation(path: str | Path) -> tuple[int, int] | None:
    """``(size, stored_eof)`` in bytes when ``path`` is an HDF5 file shorter than the
    end-of-file address its superblock records (a copy cut short), else None.

    Superblock versions 0 and 1 keep that address at byte 40 or 44, versions 2 and 3 at 28
    (offsets of 8 bytes; HDF5 format specification, "Superblock").
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(52)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return None
    if len(head) < 9 or head[:8] != _SIGNATURE:
        return None
    version = head[8]
    where = {0: 40, 1: 44, 2: 28, 3: 28}.get(version)
    if where is None:
        return None
    if version in (0, 1) and head[13] != 8 or version in (2, 3) and head[9] != 8:
        return None  # offsets of another size: not written by h5py's defaults
    if len(head) < where + 8:
        return (size, where + 8)
    eof = int.from_bytes(head[where : where + 8], "little")
    return (size, eof) if size < eof else None


def refuse_truncated(path: str | Path, what: str) -> None:
    """:class:`~crpsgd.errors.DataFormatError` naming ``path`` when it is an HDF5 file cut
    short (``what``: "run log", "checkpoint", for the message)."""
    cut = hdf5_truncation(path)
    if cut is not None:
        raise DataFormatError(
            path,
            None,
            f"truncated {what} ({cut[0]} bytes of {cut[1]}): a copy cut short or still "
            "being copied; use a complete copy",
        )


#: Seconds the child reading a killed log's metadata (:func:`refuse_unreadable_swmr`) may
#: take: a sound log of any size needs well under one.
SWMR_PROBE_S = 60.0

_PROBE = """
import sys, h5py
def visit(name, obj):
    dict(obj.attrs)
    if isinstance(obj, h5py.Dataset) and obj.shape and obj.shape[0]:
        obj[-1]
with h5py.File(sys.argv[1], "r", swmr=True, locking=False) as f:
    dict(f.attrs)
    f.visititems(visit)
"""


def refuse_unreadable_swmr(path: str | Path, what: str) -> None:
    """:class:`~crpsgd.errors.DataFormatError` naming ``path`` when a SWMR reader does not
    finish reading its metadata within :data:`SWMR_PROBE_S` seconds (in a child process,
    ended then); any other outcome is left to the caller's own read."""
    try:
        subprocess.run(
            [sys.executable, "-c", _PROBE, os.fspath(path)],
            capture_output=True,
            timeout=SWMR_PROBE_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DataFormatError(
            path,
            None,
            f"damaged {what}: HDF5 was still reading its metadata after {SWMR_PROBE_S:.0f} s "
            "(checksums fail: bytes overwritten?); use an undamaged copy",
        ) from None
