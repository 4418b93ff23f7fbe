"""``exp``, ``log``, ``log1p``, ``expm1`` and ``tanh`` in plain IEEE arithmetic: the same bits on
every x86-64 processor.

The C library picks its own ``exp`` and ``log`` by processor (glibc has variants built with
fused multiply-adds, chosen when the processor has them), and they differ from the others in
the last bit for some arguments; NumPy's vectorised versions differ again by vector width. The
kernels use these instead: each is a fixed sequence of additions, multiplications, divisions
and exact scalings by powers of two, compiled without ``fastmath``, so every processor rounds
every step alike. The methods are the classical ones of Cody & Waite (argument
reduction by ``ln 2`` in two parts, then a polynomial on the reduced interval: Taylor's for
``exp``, evaluated with fused multiply-adds, which are exact operations of IEEE 754 and give
the same bits on every processor, see :mod:`crpsgd.kernels.lanes`; for ``log`` the minimax
polynomial of the freely distributable fdlibm); the errors are at most one unit in the last
place for ``exp`` and ``log`` and a few units for the others, as the tests check against the
C library.
"""

from __future__ import annotations

import math

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from crpsgd.kernels.lanes import fma

__all__ = ["exp", "log", "log1p", "expm1", "tanh"]

_JIT = {"cache": True, "nogil": True}

_LN2_HI = 6.93147180369123816490e-01  # ln 2 with 32 trailing zero bits: k ln2_hi is exact
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e00
_EXP_MAX = 7.09782712893383973096e02  # exp overflows above
_EXP_MIN = -7.45133219101941108420e02  # exp underflows to 0 below
_E2 = 1.0 / 2  # 1/2!
_E3 = 1.0 / 6  # 1/3!
_E4 = 1.0 / 24  # 1/4!
_E5 = 1.0 / 120  # 1/5!
_E6 = 1.0 / 720  # 1/6!
_E7 = 1.0 / 5040  # 1/7!
_E8 = 1.0 / 40320  # 1/8!
_E9 = 1.0 / 362880  # 1/9!
_E10 = 1.0 / 3628800  # 1/10!
_E11 = 1.0 / 39916800  # 1/11!
_E12 = 1.0 / 479001600  # 1/12!
_E13 = 1.0 / 6227020800  # 1/13!
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT_HALF = 0.70710678118654752440
_TWO_M1000 = 2.0**-1000


@intrinsic
def _pow2(typingctx, k):
    """``2^k`` for an integer ``-1022 <= k <= 1023``, built from its bits (exact)."""
    if not isinstance(k, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        kk = args[0] if args[0].type.width == 64 else builder.sext(args[0], i64)
        bits = builder.shl(builder.add(kk, ir.Constant(i64, 1023)), ir.Constant(i64, 52))
        return builder.bitcast(bits, ir.DoubleType())

    return types.float64(k), codegen


@numba.njit(inline="always")
def _scale(y: float, k: int) -> float:
    """``y 2^k`` rounded once, as ``ldexp`` (``0.5 < y < 2``, ``-1075 <= k <= 1024``): one
    exact product by a power of two, then at most one rounding product."""
    if k < -1021:
        return (y * _pow2(k + 1000)) * _TWO_M1000
    if k > 1023:
        return (y * _pow2(k - 1)) * 2.0
    return y * _pow2(k)


@numba.njit(inline="always", **_JIT)
def exp(x: float) -> float:
    """``e^x``: ``x = k ln 2 + r`` with ``|r| <= ln(2)/2`` (``k ln 2`` subtracted in two exact
    parts), then ``e^r`` by its Taylor polynomial of degree 13 (truncation below ``1e-17``
    relative) in Horner's form with fused multiply-adds, scaled exactly by ``2^k``. No
    division and no branch in the usual range, so a loop of them vectorises."""
    if not (_EXP_MIN < x < _EXP_MAX):
        if x != x:
            return x
        return 0.0 if x < 0.0 else math.inf
    k = math.floor(x * _INV_LN2 + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = fma(_E13, r, _E12)
    p = fma(p, r, _E11)
    p = fma(p, r, _E10)
    p = fma(p, r, _E9)
    p = fma(p, r, _E8)
    p = fma(p, r, _E7)
    p = fma(p, r, _E6)
    p = fma(p, r, _E5)
    p = fma(p, r, _E4)
    p = fma(p, r, _E3)
    p = fma(p, r, _E2)
    p = fma(p, r, 1.0)
    p = fma(p, r, 1.0)
    return _scale(p, int(k))


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
