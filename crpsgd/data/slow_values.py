"""The values the LIBSVM parse loop left to Python (a decimal within one part in 10**18 of
half-way between two doubles, or an absurd exponent): converted as Python's ``float`` does,
so that every value equals ``float(token)`` bit for bit."""

from __future__ import annotations

import numba
import numpy as np

from crpsgd.data.libsvm_errors import show_token
from crpsgd.errors import DataFormatError


@numba.njit(cache=True, nogil=True)
def _gather(buf, starts, stops, width):
    out = np.zeros((starts.shape[0], width), np.uint8)
    for k in range(starts.shape[0]):
        for j in range(stops[k] - starts[k]):
            out[k, j] = buf[starts[k] + j]
    return out


def convert_slow(buf: np.ndarray, slow: np.ndarray, data: np.ndarray, name: str) -> None:
    """Convert the values the Numba loop could not round exactly, as Python's ``float`` does.

    ``slow`` rows are ``(entry, start, stop, line)``. The tokens are gathered into one
    fixed-width bytes array and converted by NumPy (the same correctly rounded conversion as
    ``float``), or one by one if that array would be large. Overflow is a
    :class:`DataFormatError` at the first such token.
    """
    starts, stops = slow[:, 1], slow[:, 2]
    width = int((stops - starts).max())
    if width * slow.shape[0] <= 1 << 26:
        tokens = _gather(buf, starts, stops, width).view(f"S{width}").ravel()
        values = tokens.astype(np.float64)
    else:
        values = np.array([float(bytes(buf[a:b])) for a, b in zip(starts, stops, strict=True)])
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        k = int(bad[0])
        full = bytes(buf[_token_start(buf, int(starts[k])) : int(stops[k])])
        raise DataFormatError(
            name, int(slow[k, 3]), f"non-finite value in {show_token(full)}: overflows"
        )
    data[slow[:, 0]] = values


def _token_start(buf: np.ndarray, s: int) -> int:
    """Start of the whitespace-delimited token containing byte ``s`` (for messages)."""
    while s > 0 and buf[s - 1] not in (32, 9, 10, 13, 11, 12):
        s -= 1
    return s
