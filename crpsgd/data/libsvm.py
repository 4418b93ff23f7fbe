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

Implementation: the file is read into one byte array and parsed by a Numba loop that returns
the CSR arrays plus an error code, line number and the offending token's byte range; Python
turns the code into the message. Numbers are converted in the loop with correct rounding
(the double nearest to the decimal value, ties to even): Clinger's fast path for up to 15-16
digits with a small exponent, the Eisel-Lemire algorithm (as in fast_float) otherwise, and
for more than 18 significant digits a truncation check (the number rounds like its first
18 digits if ``m`` and ``m + 1`` do). The very rare values still undecided (a decimal within
one part in 10**18 of half-way between two doubles) are converted by NumPy/Python, so every
value equals ``float(token)`` bit for bit, as in scikit-learn's reader.
"""

from __future__ import annotations

import math
import os
import stat

import numba
import numpy as np

from crpsgd.data.dataset import Dataset
from crpsgd.errors import DataFormatError, UsageError

__all__ = ["read_libsvm", "read_file_bytes", "csr_to_dense"]

INDEX_MAX = 2**31 - 1  # column numbers are int32 (0-based), so 1-based indices stop here

# Error codes of the parse loop (0 = no error).
_E_LABEL_SYNTAX = 1
_E_LABEL_VALUE = 2
_E_LABEL_MIXED = 3
_E_MISSING_LABEL = 4
_E_QID = 5
_E_TOKEN = 6
_E_INDEX_ZERO = 7
_E_INDEX_RANGE = 8
_E_INDEX_BIG = 9
_E_ORDER = 10
_E_MISSING_VALUE = 11
_E_VALUE = 12
_E_NONFINITE = 13
_E_OVERFLOW = 14

# Number parser results.
_N_FAST = 0  # value exact
_N_SLOW = 1  # syntax fine, value must be re-parsed by Python's float
_N_SYNTAX = 2  # not a number
_N_NONFINITE = 3  # nan / inf / infinity
_N_OVERFLOW = 4  # beyond the largest double

_U32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_Q_MIN, _Q_MAX = -342, 308  # decimal exponents outside: 0 or inf for any 19-digit m
_EXP_CAP = 1_000_000  # exponent digits beyond this are not accumulated


def _pow5_table() -> tuple[np.ndarray, np.ndarray]:
    """128-bit truncated ``5**q`` for ``q`` in ``[-342, 308]``, as high and low uint64 words.

    Normalised so bit 127 is set; for ``q < 0`` a reciprocal rounded up. This is the table of
    fast_float (``script/table_generation.py``), computed here with Python integers.
    """
    hi = np.empty(_Q_MAX - _Q_MIN + 1, np.uint64)
    lo = np.empty_like(hi)
    for k, q in enumerate(range(_Q_MIN, _Q_MAX + 1)):
        if q < 0:
            p5 = 5**-q
            z = p5.bit_length()  # smallest z with 2**z >= p5 (p5 is not a power of 2)
            c = (1 << (z + 127 if q >= -27 else 2 * z + 128)) // p5 + 1
            c >>= max(0, c.bit_length() - 128)
        else:
            c = 5**q
            c = c << (128 - c.bit_length()) if c.bit_length() < 128 else c >> (c.bit_length() - 128)
        hi[k] = c >> 64
        lo[k] = c & (2**64 - 1)
    return hi, lo


_T_HI, _T_LO = _pow5_table()

_POW10 = np.array([10.0**k for k in range(23)])  # exact doubles 1e0 .. 1e22
_TWO53 = 2**53

_JIT = {"cache": True, "nogil": True}


# --------------------------------------------------------------------------- byte helpers


@numba.njit(**_JIT)
def _is_delim(c):
    """Token end: space, tab, \\r, \\v, \\f, newline, or the start of a ``#`` comment."""
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12 or c == 10 or c == 35


@numba.njit(**_JIT)
def _lower(c):
    return c + 32 if 65 <= c <= 90 else c


@numba.njit(**_JIT)
def _is_word(buf, s, e, word):
    """Whether ``buf[s:e]`` equals the ASCII lower-case ``word`` ignoring case."""
    if e - s != len(word):
        return False
    for k in range(e - s):
        if _lower(buf[s + k]) != ord(word[k]):
            return False
    return True


@numba.njit(**_JIT)
def _mul128(a, b):
    """The 128-bit product of two uint64 as ``(high, low)`` uint64 words."""
    a_lo = a & _U32
    a_hi = a >> _S32
    b_lo = b & _U32
    b_hi = b >> _S32
    p0 = a_lo * b_lo
    p1 = a_lo * b_hi
    p2 = a_hi * b_lo
    mid = (p0 >> _S32) + (p1 & _U32) + (p2 & _U32)
    return a_hi * b_hi + (p1 >> _S32) + (p2 >> _S32) + (mid >> _S32), (mid << _S32) | (p0 & _U32)


@numba.njit(**_JIT)
def _eisel_lemire(m, q, t_hi, t_lo):
    """The double nearest to ``m * 10**q`` (ties to even), for ``0 < m < 2**63``.

    The Eisel-Lemire algorithm as in fast_float's ``compute_float`` (Lemire, "Number parsing
    at a gigabyte per second", 2021; Mushtak & Lemire 2023 prove the 128-bit product always
    suffices): multiply the normalised ``m`` by a 128-bit truncation of ``5**q`` and round
    the top bits. Returns ``inf`` on overflow and ``0.0`` on underflow.
    """
    if q < _Q_MIN:
        return 0.0
    if q > _Q_MAX:
        return np.inf
    one = np.uint64(1)
    w = np.uint64(m)
    lz = 0
    while (w >> np.uint64(63)) == np.uint64(0):
        w = w << one
        lz += 1
    k = q - _Q_MIN
    hi, lo = _mul128(w, t_hi[k])
    if (hi & np.uint64(0x1FF)) == np.uint64(0x1FF):
        hi2, _ = _mul128(w, t_lo[k])
        lo = lo + hi2
        if hi2 > lo:
            hi = hi + one
    upperbit = int(hi >> np.uint64(63))
    shift = np.uint64(upperbit + 9)
    mant = hi >> shift
    power2 = (((152170 + 65536) * q) >> 16) + 63 + upperbit - lz + 1023
    if power2 <= 0:  # subnormal (or zero)
        if -power2 + 1 >= 64:
            return 0.0
        mant = mant >> np.uint64(-power2 + 1)
        mant = (mant + (mant & one)) >> one
        return math.ldexp(float(mant), -1074)
    if lo <= one and -4 <= q <= 23 and (mant & np.uint64(3)) == one:
        if (mant << shift) == hi:  # exactly half-way: round to even
            mant = mant & ~one
    mant = (mant + (mant & one)) >> one
    if mant >= (np.uint64(2) << np.uint64(52)):
        mant = one << np.uint64(52)
        power2 += 1
    if power2 >= 0x7FF:
        return np.inf
    return math.ldexp(float(mant), power2 - 1075)


@numba.njit(**_JIT)
def _scan_number(buf, s, pow10, t_hi, t_lo):
    """Read a decimal number starting at ``buf[s]``; returns ``(value, status, end, unit)``.

    Grammar: ``[+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits]``; scanning stops at
    ``end``, the first byte that does not continue it (the caller checks that a token ends
    there). ``buf`` must end with a byte that is not part of a number (a newline).

    The significant digits go into an integer ``m`` (at most 18 digits, trailing zeros kept
    apart) with a decimal exponent ``e10``. Exact ``m <= 2**53`` with ``|e10| <= 22``: one
    IEEE multiply or divide (Clinger's fast path). Other exact ``m``: Eisel-Lemire. More
    than 18 digits: ``m`` is truncated, and if ``m`` and ``m + 1`` round to the same double
    so does the number. Status ``_N_SLOW`` (Python's ``float`` decides) remains only for
    half-way truncations and absurd exponents; ``_N_OVERFLOW`` for values beyond the double
    range. ``unit`` is 1 or 0 when the number is exactly +-1 or +-0, else -1 (label check).
    """
    i = s
    neg = False
    if buf[i] == 43 or buf[i] == 45:
        neg = buf[i] == 45
        i += 1
    m = 0
    ndig = 0  # digits merged into m
    pend_int = 0  # integer-part zeros after m's last digit, not merged yet
    pend_frac = 0  # fraction zeros after m's last digit, not merged yet
    frac_pos = 0  # fraction digits seen
    frac_in_m = 0  # fraction digits up to m's last digit
    int_extra = 0  # integer-part digits dropped after truncation
    any_digit = False
    frac = False
    trunc = False
    while True:
        c = buf[i]
        if 48 <= c <= 57:
            any_digit = True
            if frac:
                frac_pos += 1
            if trunc:
                if not frac:
                    int_extra += 1
            elif c == 48:
                if m != 0:
                    if frac:
                        pend_frac += 1
                    else:
                        pend_int += 1
            elif ndig + pend_int + pend_frac + 1 > 18:
                trunc = True
                int_extra += pend_int + (0 if frac else 1)
                pend_int = 0
            else:
                for _ in range(pend_int + pend_frac + 1):
                    m *= 10
                m += c - 48
                ndig += pend_int + pend_frac + 1
                pend_int = 0
                pend_frac = 0
                if frac:
                    frac_in_m = frac_pos
        elif c == 46 and not frac:  # '.'
            frac = True
        else:
            break
        i += 1
    if not any_digit:
        return 0.0, _N_SYNTAX, i, -1
    exp = 0
    exp_big = False
    if buf[i] == 101 or buf[i] == 69:  # e / E
        i += 1
        eneg = False
        if buf[i] == 43 or buf[i] == 45:
            eneg = buf[i] == 45
            i += 1
        if not 48 <= buf[i] <= 57:
            return 0.0, _N_SYNTAX, i, -1
        while 48 <= buf[i] <= 57:
            if exp < _EXP_CAP:
                exp = exp * 10 + (buf[i] - 48)
            else:
                exp_big = True
            i += 1
        if eneg:
            exp = -exp
    if m == 0:
        return (-0.0 if neg else 0.0), _N_FAST, i, 0
    e10 = exp + pend_int + int_extra - frac_in_m
    if exp_big:
        if abs(pend_int + int_extra - frac_in_m) < _EXP_CAP // 2:
            if exp < 0:
                return (-0.0 if neg else 0.0), _N_FAST, i, -1
            return 0.0, _N_OVERFLOW, i, -1
        return 0.0, _N_SLOW, i, -1
    unit = 1 if (m == 1 and e10 == 0 and not trunc) else -1
    if trunc:
        v = _eisel_lemire(m, e10, t_hi, t_lo)
        if v != _eisel_lemire(m + 1, e10, t_hi, t_lo):
            return 0.0, _N_SLOW, i, -1
    elif m <= _TWO53 and 0 <= e10 <= 22:
        v = float(m) * pow10[e10]
    elif m <= _TWO53 and -22 <= e10 < 0:
        v = float(m) / pow10[-e10]
    else:
        v = _eisel_lemire(m, e10, t_hi, t_lo)
    if v == np.inf:
        return 0.0, _N_OVERFLOW, i, -1
    return (-v if neg else v), _N_FAST, i, unit


@numba.njit(**_JIT)
def _number_status(buf, s, pow10, t_hi, t_lo):
    """Status of the whole token at ``buf[s]`` as a number: ``_N_*`` and the token end."""
    v, st, i, _ = _scan_number(buf, s, pow10, t_hi, t_lo)
    t = _token_end(buf, i)
    if st == _N_SYNTAX or i != t:
        body = s + 1 if buf[s] == 43 or buf[s] == 45 else s
        if _is_word(buf, body, t, "nan") or _is_word(buf, body, t, "inf"):
            return _N_NONFINITE, t
        if _is_word(buf, body, t, "infinity"):
            return _N_NONFINITE, t
        return _N_SYNTAX, t
    return st, t


@numba.njit(**_JIT)
def _token_end(buf, i):
    while not _is_delim(buf[i]):
        i += 1
    return i


# --------------------------------------------------------------------------- the parse loop


@numba.njit(**_JIT)
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
        v, st, t, unit = _scan_number(buf, s, pow10, t_hi, t_lo)
        if st == _N_SYNTAX or not _is_delim(buf[t]):
            t = _token_end(buf, s)
            err = _E_LABEL_SYNTAX
            for k in range(s, t):
                if buf[k] == 58:
                    qid = t - s >= 4 and _is_word(buf, s, s + 4, "qid:")
                    err = _E_QID if qid else _E_MISSING_LABEL
                    break
            break
        if unit < 0:  # the decimal value is not exactly -1, 0 or +1
            err = _E_LABEL_VALUE
            break
        if v == 1.0:
            y[row] = 1.0
        elif v == -1.0:
            if first_neg == 0:
                first_neg = line
            if first_zero != 0:
                err = _E_LABEL_MIXED
                aux = 2 * first_zero  # even: the earlier line has label 0
                break
            y[row] = -1.0
        else:
            if first_zero == 0:
                first_zero = line
            if first_neg != 0:
                err = _E_LABEL_MIXED
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
                t = _token_end(buf, pos)
                qid = t - s >= 4 and _is_word(buf, s, s + 4, "qid:")
                err = _E_QID if qid else _E_TOKEN
                break
            colon = pos
            if idx == 0 or idx > max_index or idx <= prev:
                t = _token_end(buf, colon + 1)
                if idx == 0:
                    err = _E_INDEX_ZERO
                elif idx > INDEX_MAX:
                    err = _E_INDEX_BIG
                elif idx > max_index:
                    err = _E_INDEX_RANGE
                    aux = idx
                else:
                    err = _E_ORDER
                    aux = prev
                break
            if _is_delim(buf[colon + 1]):
                t = colon + 1
                err = _E_MISSING_VALUE
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
            if 0 < nd <= 15 and _is_delim(buf[j]):
                v = float(mm) / pow10[nf] if nf > 0 else float(mm)
                st = _N_FAST
                t = j
                if neg:
                    v = -v
            else:
                v, st, t, _ = _scan_number(buf, colon + 1, pow10, t_hi, t_lo)
            if st == _N_SYNTAX or not _is_delim(buf[t]):
                st, t = _number_status(buf, colon + 1, pow10, t_hi, t_lo)
                err = _E_NONFINITE if st == _N_NONFINITE else _E_VALUE
                break
            if st == _N_OVERFLOW:
                err = _E_OVERFLOW
                break
            if st == _N_SLOW:
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


@numba.njit(**_JIT)
def _csr_to_dense(indptr, indices, data, n_features):
    n = indptr.shape[0] - 1
    out = np.zeros((n, n_features), np.float64)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            out[i, indices[k]] = data[k]
    return out


def csr_to_dense(ds: Dataset) -> Dataset:
    """A dense copy of a CSR :class:`Dataset` (a dense one is returned unchanged)."""
    if not ds.is_sparse:
        return ds
    indptr = ds.indptr - ds.indptr[0]
    lo, hi = int(ds.indptr[0]), int(ds.indptr[-1])
    dense = _csr_to_dense(indptr, ds.indices[lo:hi], ds.data[lo:hi], ds.n_features)
    return Dataset(ds.y, ds.n_features, dense=dense)


# --------------------------------------------------------------------------- Python side


def read_file_bytes(path: str | os.PathLike, extra: int = 0) -> np.ndarray:
    """The bytes of ``path`` as a uint8 array with ``extra`` more (uninitialised) bytes.

    OS errors become :class:`DataFormatError` naming the file ("no such file", ...).
    """
    try:
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
    except FileNotFoundError:
        raise DataFormatError(str(path), None, "no such file") from None
    except IsADirectoryError:
        raise DataFormatError(str(path), None, "is a directory, not a data file") from None
    except PermissionError:
        raise DataFormatError(str(path), None, "permission denied") from None
    except OSError as e:
        raise DataFormatError(str(path), None, f"cannot read: {e.strerror or e}") from None


def _show(raw: bytes, limit: int = 40) -> str:
    """A token for a message: quoted, control and non-UTF-8 bytes escaped, long ones cut."""
    cut = len(raw) > limit
    raw = raw[:limit]
    text = raw.decode("utf-8", "backslashreplace")
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return f"'{text}{'...' if cut else ''}'"


def _message(code: int, tok: bytes, aux: int, n_features: int | None) -> str:
    shown = _show(tok)
    labels = "labels must be -1/+1 or 0/1"
    if code == _E_LABEL_SYNTAX:
        return f"bad label {shown}: expected a number ({labels})"
    if code == _E_LABEL_VALUE:
        return f"non-binary label {shown}: {labels}"
    if code == _E_LABEL_MIXED:
        other = "-1" if aux % 2 else "0"
        return (
            f"non-binary label {shown}: line {aux // 2} has label {other}; "
            f"{labels}, not a mix of -1 and 0"
        )
    if code == _E_MISSING_LABEL:
        return f"missing label: the line starts with {shown} (expected '<label> index:value ...')"
    if code == _E_QID:
        return f"{shown}: qid (ranking data) is not supported"
    if code == _E_TOKEN:
        return f"expected index:value, got {shown}"
    if code == _E_INDEX_ZERO:
        return f"index 0 in {shown}: indices are 1-based (is this a 0-based file?)"
    if code == _E_INDEX_BIG:
        return f"index too large in {shown} (at most {INDEX_MAX})"
    if code == _E_INDEX_RANGE:
        return f"index {aux} in {shown} exceeds n_features={n_features}"
    if code == _E_ORDER:
        idx = tok.split(b":", 1)[0].decode("ascii")
        if int(idx) == aux:
            return f"duplicate index {aux} in {shown}: indices must be strictly increasing"
        return (
            f"index {int(idx)} in {shown} after index {aux}: "
            "indices must be strictly increasing within a line"
        )
    if code == _E_MISSING_VALUE:
        return f"missing value in {shown}"
    if code == _E_VALUE:
        return f"bad value in {shown}: expected a finite decimal number"
    if code == _E_NONFINITE:
        return f"non-finite value in {shown}: values must be finite"
    if code == _E_OVERFLOW:
        return f"non-finite value in {shown}: overflows"
    return f"cannot parse {shown} (error code {code})"  # pragma: no cover


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
        buf, limit, _POW10, _T_HI, _T_LO
    )
    # Values the loop left to Python come before any error it found.
    if n_slow:
        _convert_slow(buf, slow[:n_slow], data, name)
    if err:
        raise DataFormatError(name, line, _message(err, bytes(buf[ts:te]), aux, n_features))
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


@numba.njit(**_JIT)
def _gather(buf, starts, stops, width):
    out = np.zeros((starts.shape[0], width), np.uint8)
    for k in range(starts.shape[0]):
        for j in range(stops[k] - starts[k]):
            out[k, j] = buf[starts[k] + j]
    return out


def _convert_slow(buf: np.ndarray, slow: np.ndarray, data: np.ndarray, name: str) -> None:
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
            name, int(slow[k, 3]), f"non-finite value in {_show(full)}: overflows"
        )
    data[slow[:, 0]] = values


def _token_start(buf: np.ndarray, s: int) -> int:
    """Start of the whitespace-delimited token containing byte ``s`` (for messages)."""
    while s > 0 and buf[s - 1] not in (32, 9, 10, 13, 11, 12):
        s -= 1
    return s
