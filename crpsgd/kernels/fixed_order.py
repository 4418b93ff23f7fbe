"""Sums in a fixed order of operations: the same bits on every x86-64 processor.

A floating-point sum depends on the order in which its terms are added. BLAS libraries
choose their kernels (and so their order) by processor, and compilers allowed to reassociate
(``fastmath`` ``reassoc``) vectorise a sum to the width of the host's vector registers. Every
number a run logs is therefore built from the reductions of this module, which fix the order
in the source and use no ``fastmath`` flag (no reassociation, no fused multiply-add):

* a **lane sum** of ``n`` products keeps ``LANES = 8`` partial sums, lane ``l`` adding the
  terms ``l, l + 8, l + 16, ...`` of the first ``8 floor(n / 8)`` terms in order, each with a
  fused multiply-add (``s_l <- fma(a_j, b_j, s_l)``, rounded once: IEEE's exact operation,
  an instruction where the processor has one, the C library's exact ``fma`` elsewhere); the
  lanes are combined as ``((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))`` and the
  remaining ``n mod 8`` terms are added one by one after it, by fused multiply-adds too.

The eight lanes are independent, so they live in vector registers (one 512-bit, two 256-bit
or four 128-bit registers: :mod:`crpsgd.kernels.lanes` writes them as an ``<8 x double>``
value): a vector of lanes computes exactly what eight scalars would, so the result does not
depend on the width, and the sum runs at vector speed on any of them. Arrays that are not
contiguous float64 take a scalar loop over the same lanes, which gives the same bits.

Every function allocates nothing and is single-threaded.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from crpsgd.kernels.lanes import LANES, fma, lane_dot_at, lane_dots8_at
from crpsgd.kernels.stack import stack_buffer

__all__ = [
    "LANES",
    "dot",
    "sq_norm",
    "dot_dense_row",
    "dot_dense_rows8",
    "sq_norm_dense_row",
    "matvec_dense",
]

_JIT = {"cache": True, "nogil": True}


@numba.njit(inline="always")
def lane_scratch():
    """Eight float64 partial sums, zeroed, on the caller's stack."""
    acc = numba.carray(stack_buffer(numba.float64, LANES), LANES)
    for lane in range(LANES):
        acc[lane] = 0.0
    return acc


@numba.njit(inline="always")
def combine_lanes(acc) -> float:
    """``((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))``: the lanes in the fixed order."""
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


@numba.njit(inline="always")
def _scalar_lanes(a, b):
    """The lane sum of ``a . b`` with one scalar per lane: any layout, any dtype."""
    n = a.shape[0]
    acc = lane_scratch()
    full = n - n % LANES
    for j in range(0, full, LANES):
        for lane in range(LANES):
            acc[lane] = fma(a[j + lane], b[j + lane], acc[lane])
    s = combine_lanes(acc)
    for j in range(full, n):
        s = fma(a[j], b[j], s)
    return s


def _lane_dot(a, b):
    """``a . b`` in the lane order (compiled code only)."""
    raise NotImplementedError("compiled code only")


@overload(_lane_dot)
def _lane_dot_typed(a, b):
    vector_ready = all(
        isinstance(t, types.Array) and t.dtype == types.float64 and t.layout == "C" for t in (a, b)
    )
    if vector_ready:
        return lambda a, b: lane_dot_at(a.ctypes.data, b.ctypes.data, a.shape[0])
    return lambda a, b: _scalar_lanes(a, b)


@numba.njit(**_JIT)
def dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b`` of two vectors of equal length, in the lane order."""
    return _lane_dot(a, b)


@numba.njit(**_JIT)
def sq_norm(a: np.ndarray) -> float:
    """``||a||^2 = a . a``, in the lane order."""
    return _lane_dot(a, a)


@numba.njit(inline="always")
def _row_address(X, i):
    return X.ctypes.data + numba.uint64(i) * numba.uint64(X.strides[0])


@numba.njit(inline="always")
def dot_dense_row(X, i, x):
    """``X[i] . x`` (``X`` float64 ``(n, d)`` with contiguous rows, ``x`` contiguous float64),
    in the lane order."""
    return lane_dot_at(_row_address(X, i), x.ctypes.data, X.shape[1])


@numba.njit(inline="always")
def dot_dense_rows8(X, rows, x, out):
    """``out[r] = X[rows[r]] . x`` for ``r < 8`` in one pass over the columns, each in the
    lane order (``rows`` int64 and ``out`` float64, contiguous, at least 8 long)."""
    lane_dots8_at(
        X.ctypes.data, X.strides[0], rows.ctypes.data, x.ctypes.data, X.shape[1], out.ctypes.data
    )


@numba.njit(inline="always")
def sq_norm_dense_row(X, i):
    """``||X[i]||^2`` (``X`` float64 ``(n, d)`` with contiguous rows), in the lane order."""
    row = _row_address(X, i)
    return lane_dot_at(row, row, X.shape[1])


@numba.njit(**_JIT)
def matvec_dense(X: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = X[i] . x`` for every row of a float64 ``(n, d)`` array with contiguous rows."""
    for i in range(X.shape[0]):
        out[i] = dot_dense_row(X, i, x)
