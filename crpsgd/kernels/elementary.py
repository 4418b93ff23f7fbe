"""``exp``, ``log``, ``log1p``, ``expm1`` and ``tanh`` in plain IEEE arithmetic: the same bits on
every x86-64 processor.

The C library picks its own ``exp`` and ``log`` by processor (glibc has variants built with
fused multiply-adds, chosen when the processor has them), and they differ from the others in
the last bit for some arguments; NumPy's vectorised versions differ again by vector width. The
kernels use these instead: each is a fixed sequence of additions, multiplications, divisions
and exact scalings by powers of two, compiled without ``fastmath``, so every processor rounds
every step alike. The methods are the classical ones of Cody & Waite and of Tang (argument
reduction by ``ln 2`` in two parts, a minimax polynomial on the reduced interval; the
polynomials' coefficients are those of the freely distributable fdlibm); the errors are below
one unit in the last place for ``exp`` and ``log`` and a few units for the others, as
``tests`` check against the C library.
"""

from __future__ import annotations

import math

import numba

__all__ = ["exp", "log", "log1p", "expm1", "tanh"]

_JIT = {"cache": True, "nogil": True}

_LN2_HI = 6.93147180369123816490e-01  # ln 2 with 32 trailing zero bits: k ln2_hi is exact
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e00
_EXP_MAX = 7.09782712893383973096e02  # exp overflows above
_EXP_MIN = -7.45133219101941108420e02  # exp underflows to 0 below
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT_HALF = 0.70710678118654752440


@numba.njit(**_JIT)
def exp(x: float) -> float:
    """``e^x``: ``x = k ln 2 + r`` with ``|r| <= ln(2)/2``, then ``e^r`` by a rational form
    of a degree-10 minimax polynomial, scaled exactly by ``2^k``."""
    if x != x:
        return x
    if x > _EXP_MAX:
        return math.inf
    if x < _EXP_MIN:
        return 0.0
    if abs(x) < 3.725290298461914e-09:  # 2^-28: e^x = 1 + x to working precision
        return 1.0 + x
    k = math.floor(x * _INV_LN2 + 0.5)
    hi = x - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return math.ldexp(y, int(k))


@numba.njit(**_JIT)
def log(x: float) -> float:
    """Natural logarithm: ``x = 2^k (1 + f)`` with ``sqrt(1/2) <= 1 + f < sqrt(2)``, then
    ``log(1 + f) = 2s + s R(s^2)``, ``s = f / (2 + f)``, ``R`` a minimax polynomial."""
    if x != x or x == math.inf:
        return x
    if x < 0.0:
        return math.nan
    if x == 0.0:
        return -math.inf
    m, e = math.frexp(x)  # x = m 2^e, 0.5 <= m < 1
    if m < _SQRT_HALF:
        m *= 2.0
        e -= 1
    f = m - 1.0
    k = float(e)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + (t1 + t2)) + k * _LN2_LO)) - f)


@numba.njit(**_JIT)
def log1p(x: float) -> float:
    """``log(1 + x)`` for ``x > -1``, accurate for small ``x``: with ``u = 1 + x`` rounded,
    ``log(u) - ((u - 1) - x) / u`` corrects for the rounding of ``u``."""
    u = 1.0 + x
    if u == 1.0:
        return x
    if u == math.inf or x != x:
        return u
    if u <= 0.0:
        return -math.inf if u == 0.0 else math.nan
    return log(u) - ((u - 1.0) - x) / u


@numba.njit(**_JIT)
def expm1(x: float) -> float:
    """``e^x - 1``, accurate for small ``x`` (Kahan): with ``u = e^x`` rounded,
    ``(u - 1) x / log(u)`` cancels the rounding of ``u``."""
    u = exp(x)
    if u == 1.0:
        return x
    if u == math.inf or x != x:
        return u
    um1 = u - 1.0
    if um1 == -1.0:
        return -1.0
    return um1 * x / log(u)


@numba.njit(**_JIT)
def tanh(x: float) -> float:
    """``tanh(x) = e / (e + 2)`` with ``e = expm1(2|x|)``, signed; ``x`` itself for
    ``|x| < 2^-28`` and ``+-1`` beyond ``|x| = 22``."""
    a = abs(x)
    if a != a:
        return x
    if a < 3.725290298461914e-09:
        return x
    if a > 22.0:
        r = 1.0
    else:
        e = expm1(2.0 * a)
        r = e / (e + 2.0)
    return r if x > 0.0 else -r
