"""Correctly rounded decimal numbers from bytes, in Numba: the number scanner of the LIBSVM
reader (:mod:`crpsgd.data.libsvm`).

:func:`scan_number` reads ``[+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits]`` at a
byte offset and returns the double nearest to its decimal value (ties to even): Clinger's
fast path for up to 15-16 digits with a small exponent, the Eisel-Lemire algorithm (as in
fast_float) otherwise, and for more than 18 significant digits a truncation check (the
number rounds like its first 18 digits if ``m`` and ``m + 1`` do). What it cannot decide
(a decimal within one part in 10**18 of half-way between two doubles, absurd exponents) it
reports as ``N_SLOW``, for Python's ``float`` to convert. :func:`number_status` classifies a
whole token (a number, ``nan``/``inf``, or not a number). The tables :data:`POW10`,
:data:`T_HI` and :data:`T_LO` are passed in by the caller (Numba functions take arrays as
arguments, not as globals).
"""

from __future__ import annotations

import math

import numba
import numpy as np

JIT = {"cache": True, "nogil": True}

# Number scanner results.
N_FAST = 0  # value exact
N_SLOW = 1  # syntax fine, value must be re-parsed by Python's float
N_SYNTAX = 2  # not a number
N_NONFINITE = 3  # nan / inf / infinity
N_OVERFLOW = 4  # beyond the largest double

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


T_HI, T_LO = _pow5_table()

POW10 = np.array([10.0**k for k in range(23)])  # exact doubles 1e0 .. 1e22
_TWO53 = 2**53


# --------------------------------------------------------------------------- byte helpers


@numba.njit(**JIT)
def is_delim(c):
    """Token end: space, tab, \\r, \\v, \\f, newline, or the start of a ``#`` comment."""
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12 or c == 10 or c == 35


@numba.njit(**JIT)
def _lower(c):
    return c + 32 if 65 <= c <= 90 else c


@numba.njit(**JIT)
def is_word(buf, s, e, word):
    """Whether ``buf[s:e]`` equals the ASCII lower-case ``word`` ignoring case."""
    if e - s != len(word):
        return False
    for k in range(e - s):
        if _lower(buf[s + k]) != ord(word[k]):
            return False
    return True


@numba.njit(**JIT)
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


@numba.njit(**JIT)
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


@numba.njit(**JIT)
def scan_number(buf, s, pow10, t_hi, t_lo):
    """Read a decimal number starting at ``buf[s]``; returns ``(value, status, end, unit)``.

    Grammar: ``[+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits]``; scanning stops at
    ``end``, the first byte that does not continue it (the caller checks that a token ends
    there). ``buf`` must end with a byte that is not part of a number (a newline).

    The significant digits go into an integer ``m`` (at most 18 digits, trailing zeros kept
    apart) with a decimal exponent ``e10``. Exact ``m <= 2**53`` with ``|e10| <= 22``: one
    IEEE multiply or divide (Clinger's fast path). Other exact ``m``: Eisel-Lemire. More
    than 18 digits: ``m`` is truncated, and if ``m`` and ``m + 1`` round to the same double
    so does the number. Status ``N_SLOW`` (Python's ``float`` decides) remains only for
    half-way truncations and absurd exponents; ``N_OVERFLOW`` for values beyond the double
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
        return 0.0, N_SYNTAX, i, -1
    exp = 0
    exp_big = False
    if buf[i] == 101 or buf[i] == 69:  # e / E
        i += 1
        eneg = False
        if buf[i] == 43 or buf[i] == 45:
            eneg = buf[i] == 45
            i += 1
        if not 48 <= buf[i] <= 57:
            return 0.0, N_SYNTAX, i, -1
        while 48 <= buf[i] <= 57:
            if exp < _EXP_CAP:
                exp = exp * 10 + (buf[i] - 48)
            else:
                exp_big = True
            i += 1
        if eneg:
            exp = -exp
    if m == 0:
        return (-0.0 if neg else 0.0), N_FAST, i, 0
    e10 = exp + pend_int + int_extra - frac_in_m
    if exp_big:
        if abs(pend_int + int_extra - frac_in_m) < _EXP_CAP // 2:
            if exp < 0:
                return (-0.0 if neg else 0.0), N_FAST, i, -1
            return 0.0, N_OVERFLOW, i, -1
        return 0.0, N_SLOW, i, -1
    unit = 1 if (m == 1 and e10 == 0 and not trunc) else -1
    if trunc:
        v = _eisel_lemire(m, e10, t_hi, t_lo)
        if v != _eisel_lemire(m + 1, e10, t_hi, t_lo):
            return 0.0, N_SLOW, i, -1
    elif m <= _TWO53 and 0 <= e10 <= 22:
        v = float(m) * pow10[e10]
    elif m <= _TWO53 and -22 <= e10 < 0:
        v = float(m) / pow10[-e10]
    else:
        v = _eisel_lemire(m, e10, t_hi, t_lo)
    if v == np.inf:
        return 0.0, N_OVERFLOW, i, -1
    return (-v if neg else v), N_FAST, i, unit


@numba.njit(**JIT)
def number_status(buf, s, pow10, t_hi, t_lo):
    """Status of the whole token at ``buf[s]`` as a number: ``_N_*`` and the token end."""
    v, st, i, _ = scan_number(buf, s, pow10, t_hi, t_lo)
    t = token_end(buf, i)
    if st == N_SYNTAX or i != t:
        body = s + 1 if buf[s] == 43 or buf[s] == 45 else s
        if is_word(buf, body, t, "nan") or is_word(buf, body, t, "inf"):
            return N_NONFINITE, t
        if is_word(buf, body, t, "infinity"):
            return N_NONFINITE, t
        return N_SYNTAX, t
    return st, t


@numba.njit(**JIT)
def token_end(buf, i):
    while not is_delim(buf[i]):
        i += 1
    return i
