"""LIBSVM / SVMlight text reader for binary classification.

Format, one sample a line::

    <label> <index>:<value> <index>:<value> ...   [# comment]

Rules (every violation is one :class:`~crpsgd.errors.DataFormatError` naming the file, the
1-based physical line and what is wrong; no other exception type escapes for any input bytes):

- **Labels** are numbers whose decimal value is exactly ``-1`` or ``+1`` (``-1``, ``+1``,
  ``1``, ``1.0``, ``1e0`` ...) or ``0`` or ``1``; ``0`` is mapped to ``-1``. A file whose
  labels include both ``-1`` and ``0`` (three classes), or any other value (``2``, ``0.5``,
  ``3,4``), is rejected as "non-binary label". A single-class file is accepted.
- **Features** are ``index:value`` tokens: indices are 1-based decimal integers, strictly
  increasing within a line (stored 0-based, int32); values are finite decimal numbers
  (``1``, ``-0.5``, ``.25``, ``3e-4``; no ``nan``/``inf``, no hexadecimal, no ``_``).
  Explicit zero values are kept as stored entries.
- Tokens are separated by spaces or tabs; ``\\r`` (CRLF files) and trailing whitespace are
  fine; blank lines and ``#`` comments (whole line or the rest of a line) are skipped.
  A line with a label and no features is a sample whose features are all zero.
- ``qid:`` tokens (ranking data) are rejected with a message saying so.
- ``n_features`` given by the caller must be >= every index (a test file may not use the
  last features, so pass the training width); ``None`` infers it as the largest index.
- A file without samples (empty, or only blank lines and comments) is an error.

Implementation: the file is read into one byte array (:mod:`crpsgd.data.file_bytes`) and
parsed by a Numba loop that returns the CSR arrays plus an error code, line number and the
offending token's byte range; Python turns the code into the message
(:mod:`crpsgd.data.libsvm_errors`). Numbers are converted in the loop with correct rounding
(:mod:`crpsgd.data.decimal_scan`: Clinger's fast path, Eisel-Lemire, a truncation check);
the very rare values still undecided are converted by NumPy/Python
(:mod:`crpsgd.data.slow_values`), so every value equals ``float(token)`` bit for bit, as in
scikit-learn's reader.
"""

from __future__ import annotations

import os

import numba
import numpy as np

from crpsgd.data.dataset import Dataset
from crpsgd.data.decimal_scan import (
    JIT,
    N_FAST,
    N_NONFINITE,
    N_OVERFLOW,
    N_SLOW,
    N_SYNTAX,
    POW10,
    T_HI,
    T_LO,
    is_delim,
    is_word,
    number_status,
    scan_number,
    token_end,
)
from crpsgd.data.dense import csr_to_dense
from crpsgd.data.file_bytes import read_file_bytes
from crpsgd.data.libsvm_errors import (
    E_INDEX_BIG,
    E_INDEX_RANGE,
    E_INDEX_ZERO,
    E_LABEL_MIXED,
    E_LABEL_SYNTAX,
    E_LABEL_VALUE,
    E_MISSING_LABEL,
    E_MISSING_VALUE,
    E_NONFINITE,
    E_ORDER,
    E_OVERFLOW,
    E_QID,
    E_TOKEN,
    E_VALUE,
    INDEX_MAX,
    message,
)
from crpsgd.data.slow_values import convert_slow
from crpsgd.errors import DataFormatError, UsageError

__all__ = ["read_libsvm", "read_file_bytes", "csr_to_dense"]

# --------------------------------------------------------------------------- the parse loop


@numba.njit(**JIT)
def _parse(buf, max_index, pow10, t_hi, t_lo):
    """Parse LIBSVM bytes; ``buf`` must end with a newline byte.

    Returns ``(y, indptr, indices, data, n_rows, nnz, slow, n_slow, err, line, tok_s, tok_e,
    aux)``. ``slow[k] = (entry, start, stop, line)`` lists values for Python to re-parse from
    ``buf[start:stop]``. On error, ``err`` is a code, ``line`` the 1-based line,
    ``buf[tok_s:tok_e]`` the offending token and ``aux`` a code-specific number. Parsing stops
    at the first error, so every listed slow value comes before it.
    """
    n = buf.shape[0]
    n_lines = 0
    n_colon = 0
    for k in range(n):
        c = buf[k]
        if c == 10:
            n_lines += 1
        elif c == 58:
            n_colon += 1
    y = np.empty(n_lines, np.float64)
    indptr = np.empty(n_lines + 1, np.int64)
    indices = np.empty(n_colon, np.int32)
    data = np.empty(n_colon, np.float64)
    slow = np.empty((16, 4), np.int64)
    n_slow = 0
    indptr[0] = 0

    err = 0
    s = 0
    t = 0
    aux = 0
    line = 1
    row = 0
    nnz = 0
    first_neg = 0  # line of the first label -1 (0: none yet)
    first_zero = 0  # line of the first label 0
    pos = 0
    while pos < n:
        c = buf[pos]
        while c == 32 or c == 9 or c == 13 or c == 11 or c == 12:
            pos += 1
            c = buf[pos]
        if c == 10:
            pos += 1
            line += 1
            continue
        if c == 35:
            while buf[pos] != 10:
                pos += 1
            continue
        # ---- label
        s = pos
        v, st, t, unit = scan_number(buf, s, pow10, t_hi, t_lo)
        if st == N_SYNTAX or not is_delim(buf[t]):
            t = token_end(buf, s)
            err = E_LABEL_SYNTAX
            for k in range(s, t):
                if buf[k] == 58:
                    qid = t - s >= 4 and is_word(buf, s, s + 4, "qid:")
                    err = E_QID if qid else E_MISSING_LABEL
                    break
            break
        if unit < 0:  # the decimal value is not exactly -1, 0 or +1
            err = E_LABEL_VALUE
            break
        if v == 1.0:
            y[row] = 1.0
        elif v == -1.0:
            if first_neg == 0:
                first_neg = line
            if first_zero != 0:
                err = E_LABEL_MIXED
                aux = 2 * first_zero  # even: the earlier line has label 0
                break
            y[row] = -1.0
        else:
            if first_zero == 0:
                first_zero = line
            if first_neg != 0:
                err = E_LABEL_MIXED
                aux = 2 * first_neg + 1  # odd: the earlier line has label -1
                break
            y[row] = -1.0
        pos = t
        # ---- features
        prev = 0
        while True:
            c = buf[pos]
            while c == 32 or c == 9 or c == 13 or c == 11 or c == 12:
                pos += 1
                c = buf[pos]
            if c == 10 or c == 35:
                break
            s = pos
            idx = 0
            nd = 0
            while 48 <= buf[pos] <= 57:
                if idx <= INDEX_MAX:
                    idx = idx * 10 + (buf[pos] - 48)
                nd += 1
                pos += 1
            if nd == 0 or buf[pos] != 58:
                t = token_end(buf, pos)
                qid = t - s >= 4 and is_word(buf, s, s + 4, "qid:")
                err = E_QID if qid else E_TOKEN
                break
            colon = pos
            if idx == 0 or idx > max_index or idx <= prev:
                t = token_end(buf, colon + 1)
                if idx == 0:
                    err = E_INDEX_ZERO
                elif idx > INDEX_MAX:
                    err = E_INDEX_BIG
                elif idx > max_index:
                    err = E_INDEX_RANGE
                    aux = idx
                else:
                    err = E_ORDER
                    aux = prev
                break
            if is_delim(buf[colon + 1]):
                t = colon + 1
                err = E_MISSING_VALUE
                break
            # Fast path, most values: [+-]digits[.digits] with at most 15 digits (an exact
            # integer over an exact power of ten: one correctly rounded division).
            j = colon + 1
            neg = buf[j] == 45
            if neg or buf[j] == 43:
                j += 1
            mm = 0
            nd = 0
            nf = -1
            while True:
                c = buf[j]
                if 48 <= c <= 57:
                    mm = mm * 10 + (c - 48)
                    nd += 1
                    if nf >= 0:
                        nf += 1
                elif c == 46 and nf < 0:
                    nf = 0
                else:
                    break
                j += 1
            if 0 < nd <= 15 and is_delim(buf[j]):
                v = float(mm) / pow10[nf] if nf > 0 else float(mm)
                st = N_FAST
                t = j
                if neg:
                    v = -v
            else:
                v, st, t, _ = scan_number(buf, colon + 1, pow10, t_hi, t_lo)
            if st == N_SYNTAX or not is_delim(buf[t]):
                st, t = number_status(buf, colon + 1, pow10, t_hi, t_lo)
                err = E_NONFINITE if st == N_NONFINITE else E_VALUE
                break
            if st == N_OVERFLOW:
                err = E_OVERFLOW
                break
            if st == N_SLOW:
                if n_slow == slow.shape[0]:
                    grown = np.empty((2 * n_slow, 4), np.int64)
                    grown[:n_slow] = slow
                    slow = grown
                slow[n_slow, 0] = nnz
                slow[n_slow, 1] = colon + 1
                slow[n_slow, 2] = t
                slow[n_slow, 3] = line
                n_slow += 1
            indices[nnz] = idx - 1
            data[nnz] = v
            nnz += 1
            prev = idx
            pos = t
        if err:
            break
        row += 1
        indptr[row] = nnz
        if c == 35:
            while buf[pos] != 10:
                pos += 1
    return (y, indptr, indices, data, row, nnz, slow, n_slow, err, line, s, t, aux)


# --------------------------------------------------------------------------- Python side


def read_libsvm(
    path: str | os.PathLike, n_features: int | None = None, dense: bool = False
) -> Dataset:
    """Read a binary-classification LIBSVM file into a :class:`Dataset`.

    Parameters
    ----------
    path
        The text file; see the module docstring for the accepted format.
    n_features
        Feature count ``d``; must be >= the largest index in the file. ``None``: the largest
        index (then a file without any ``index:value`` token is an error).
    dense
        ``True``: a dense C-contiguous ``(n, d)`` float64 matrix; ``False``: CSR with
        ``indptr`` int64, ``indices`` int32 (0-based), ``data`` float64.

    Labels are float64 in ``{-1.0, +1.0}`` (0 is mapped to -1).

    Raises
    ------
    DataFormatError
        For a missing or unreadable file, a file without samples or a malformed line; the
        message is ``path:line: what is wrong``.
    UsageError
        For ``n_features < 1``.
    """
    name = str(path)
    if n_features is not None:
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)):
            raise UsageError(f"n_features={n_features!r}: must be an integer")
        if not 1 <= n_features <= INDEX_MAX:
            raise UsageError(f"n_features={n_features}: must be in 1..{INDEX_MAX}")
        n_features = int(n_features)
    buf = read_file_bytes(path, extra=1)
    size = buf.shape[0] - 1
    buf[size] = 10  # a final newline, so the loop never runs past the end
    limit = n_features if n_features is not None else INDEX_MAX
    (y, indptr, indices, data, n_rows, nnz, slow, n_slow, err, line, ts, te, aux) = _parse(
        buf, limit, POW10, T_HI, T_LO
    )
    # Values the loop left to Python come before any error it found.
    if n_slow:
        convert_slow(buf, slow[:n_slow], data, name)
    if err:
        raise DataFormatError(name, line, message(err, bytes(buf[ts:te]), aux, n_features))
    if n_rows == 0:
        what = "the file is empty" if size == 0 else "only blank lines and comments"
        raise DataFormatError(name, None, f"no samples ({what})")
    if n_features is None:
        n_features = int(indices[:nnz].max()) + 1 if nnz else 0
        if n_features == 0:
            raise DataFormatError(
                name, None, "no features in any line: pass n_features to read such a file"
            )
    del buf
    y = y[:n_rows].copy() if n_rows < y.shape[0] else y
    indptr = indptr[: n_rows + 1].copy() if n_rows + 1 < indptr.shape[0] else indptr
    indices = indices[:nnz].copy() if nnz < indices.shape[0] else indices
    data = data[:nnz].copy() if nnz < data.shape[0] else data
    ds = Dataset(y, n_features, indptr=indptr, indices=indices, data=data)
    return csr_to_dense(ds) if dense else ds
