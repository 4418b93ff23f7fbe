"""Numba kernels for l2-regularised logistic regression over dense and CSR rows.

Per-sample objective, for a row ``a_i`` with label ``y_i`` in ``{-1, +1}``::

    F(x; i) = log(1 + exp(-m_i)) + (lam / 2) ||x||^2,      m_i = y_i a_i^T x  (the margin)
    grad F(x; i) = c_i a_i + lam x,                           c_i = -y_i sigmoid(-m_i)

Losses are in nats. Layouts (see :mod:`crpsgd.data.dataset`): dense ``X`` is a C-contiguous
float64 ``(n, d)`` array; CSR is ``indptr`` int64 ``(n + 1,)``, ``indices`` int32 (0-based
column numbers) and ``data`` float64. ``y`` is float64; ``x``, ``out``, ``grad_out`` are
float64 ``(d,)``; ``idx`` is int64.

All kernels are single-threaded (one MPI rank per core), release the GIL, allocate nothing
(the minibatch kernels keep their ``BLOCK``-long scratch on the stack) and are stable for
any margin: ``log(1 + exp(-m))`` and ``sigmoid(-m)`` are evaluated from ``exp(-|m|)``,
which never overflows. The dense kernels use ``fastmath`` flags ``reassoc`` and
``contract`` only (reordered sums and fused multiply-adds, so the dot products vectorise;
the results differ from a left-to-right sum by rounding only: the tests hold them to 1e-12
relative); no flag that assumes finite values, so NaN and inf propagate as usual.
The CSR kernels use no fastmath (vectorised gathers are slower than scalar code there).

The minibatch kernels prefetch the rows ``PREFETCH_AHEAD`` samples ahead into L2: with
``B << n`` the sorted sampled rows are scattered, and demand misses alone leave the core
waiting on memory. They work in blocks of ``BLOCK`` distinct rows (margins, then the
coefficients' ``exp`` calls, then the updates), which keeps several rows' reads and ``exp``
calls in flight at once, and they compute a row drawn ``k`` times once, with weight ``k``
(with ``B`` near ``n`` a large share of the draws are repeats). Summation order therefore
differs from a sample-by-sample loop by rounding only.
"""

from __future__ import annotations

import math

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "log1pexp",
    "logistic_loss_and_coef",
    "logistic_minibatch_grad_dense",
    "logistic_minibatch_grad_csr",
    "logistic_loss_grad_sum_dense",
    "logistic_loss_grad_sum_csr",
    "logistic_loss_sum_dense",
    "logistic_loss_sum_csr",
    "max_row_sq_norm_dense",
    "max_row_sq_norm_csr",
    "smoothness_constant",
]

_JIT = {"cache": True, "nogil": True}
_FASTMATH = {"reassoc", "contract"}
PREFETCH_AHEAD = 16  # samples; ~ memory latency / time per row, not critical in 8..32
BLOCK = 8  # distinct rows computed together (the dense kernel's block loops are written for 8)


# --------------------------------------------------------------------------- scalar helpers


@numba.njit(**_JIT)
def log1pexp(t: float) -> float:
    """``log(1 + exp(t))`` without overflow or cancellation, for any finite ``t``."""
    if t > 0.0:
        return t + math.log1p(math.exp(-t))
    return math.log1p(math.exp(t))


@numba.njit(**_JIT)
def logistic_loss_and_coef(m: float, yi: float) -> tuple[float, float]:
    """For margin ``m = y a.x``: ``(log(1 + exp(-m)), -y sigmoid(-m))`` from one ``exp``.

    With ``e = exp(-|m|)`` in ``(0, 1]``: ``log(1 + exp(-m)) = log1p(e) + max(-m, 0)`` and
    ``sigmoid(-m) = e / (1 + e)`` if ``m >= 0`` else ``1 / (1 + e)``.
    """
    e = math.exp(-abs(m))
    if m >= 0.0:
        return math.log1p(e), -yi * (e / (1.0 + e))
    return math.log1p(e) - m, -yi / (1.0 + e)


@numba.njit(**_JIT)
def _coef(m: float, yi: float) -> float:
    """``-y sigmoid(-m)`` for margin ``m``: the gradient coefficient, one ``exp``.

    ``sigmoid(-m) = e t`` if ``m >= 0`` else ``t``, with ``e = exp(-|m|)``, ``t = 1/(1 + e)``:
    both sides are computed and one is selected, without a branch, because the sign of the
    margin is as good as random within a minibatch and a mispredicted branch costs about as
    much as the ``exp``.
    """
    e = math.exp(-abs(m))
    t = 1.0 / (1.0 + e)
    return -yi * (e * t if m >= 0.0 else t)


@intrinsic
def _prefetch(typingctx, arr, i):
    """Hint the CPU to bring ``arr[i]`` (flat index) into L2: ``llvm.prefetch``, read, t1."""
    if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        builder.call(fn, [ptr, i32(0), i32(2), i32(1)])  # read, locality 2 (L2), data
        return context.get_dummy_value()

    return types.void(arr, i), codegen


@intrinsic
def _stack_buffer(typingctx, dtype, size):
    """A pointer to ``size`` (a compile-time constant) elements of ``dtype`` on the calling
    function's stack, for ``numba.carray``: scratch space that is not a heap allocation."""
    if not isinstance(size, types.IntegerLiteral):
        return None

    def codegen(context, builder, signature, args):
        element = context.get_value_type(dtype.dtype)
        return cgutils.alloca_once(builder, element, size=size.literal_value)

    return types.CPointer(dtype.dtype)(dtype, size), codegen


@numba.njit(inline="always")
def _block_scratch():
    """``rows``, ``weight``, ``margins``: the ``BLOCK``-long scratch arrays of a minibatch
    kernel, on its stack."""
    rows = numba.carray(_stack_buffer(numba.int64, BLOCK), BLOCK)
    weight = numba.carray(_stack_buffer(numba.float64, BLOCK), BLOCK)
    margins = numba.carray(_stack_buffer(numba.float64, BLOCK), BLOCK)
    return rows, weight, margins


@numba.njit(inline="always")
def _prefetch_dense_row(flat, i, d):
    """Prefetch row ``i`` of a C-contiguous ``(n, d)`` array given as ``flat = X.reshape(-1)``."""
    for j in range(i * d, (i + 1) * d, 8):  # one hint per 64-byte line
        _prefetch(flat, j)
    _prefetch(flat, (i + 1) * d - 1)


@numba.njit(inline="always")
def _dot_dense_row(X, i, x):
    s = 0.0
    for j in range(X.shape[1]):
        s += X[i, j] * x[j]
    return s


@numba.njit(inline="always")
def _dot_csr_row(indptr, indices, data, i, x):
    s = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        s += data[p] * x[indices[p]]
    return s


# --------------------------------------------------------------------------- minibatch gradient


@numba.njit(inline="always")
def _next_block(idx, k, rows, weight):
    """Gather up to ``len(rows)`` runs of equal entries of ``idx`` from position ``k`` on.

    Run ``r`` is row ``rows[r]`` repeated ``weight[r]`` times in a row. Returns the position
    after the last run taken and the number of runs. In sorted ``idx`` every repeat of a row
    is in one run, so each distinct row is read and its ``exp`` taken once per minibatch.
    """
    b = idx.shape[0]
    nb = 0
    while nb < rows.shape[0] and k < b:
        i = idx[k]
        count = 1
        k += 1
        while k < b and idx[k] == i:
            count += 1
            k += 1
        rows[nb] = i
        weight[nb] = count
        nb += 1
    return k, nb


@numba.njit(inline="always")
def _scale_by_coefs(y, rows, margins, weight, nb):
    """``weight[r] *= -y_i sigmoid(-y_i m_r)`` for the block's rows, ``m_r = margins[r]``
    (``margins`` holds ``a_i.x``): a loop of independent ``exp`` calls, which pipeline."""
    for r in range(nb):
        yi = y[rows[r]]
        weight[r] *= _coef(yi * margins[r], yi)


@numba.njit(inline="always")
def _dense_block_margins(X, rows, x, margins):
    """``margins[r] = a_{rows[r]}.x`` for the 8 rows of a block, in one pass over the columns:
    each ``x[j]`` is loaded once for all eight rows, and the eight sums vectorise over ``j``."""
    r0, r1, r2, r3 = rows[0], rows[1], rows[2], rows[3]
    r4, r5, r6, r7 = rows[4], rows[5], rows[6], rows[7]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = 0.0
    for j in range(X.shape[1]):
        xj = x[j]
        m0 += X[r0, j] * xj
        m1 += X[r1, j] * xj
        m2 += X[r2, j] * xj
        m3 += X[r3, j] * xj
        m4 += X[r4, j] * xj
        m5 += X[r5, j] * xj
        m6 += X[r6, j] * xj
        m7 += X[r7, j] * xj
    margins[0], margins[1], margins[2], margins[3] = m0, m1, m2, m3
    margins[4], margins[5], margins[6], margins[7] = m4, m5, m6, m7


@numba.njit(inline="always")
def _dense_block_update(X, rows, weight, out):
    """``out += sum_r weight[r] a_{rows[r]}`` for the 8 rows of a block, in one pass over
    ``out`` (one load and one store of ``out[j]`` per block, not per row)."""
    r0, r1, r2, r3 = rows[0], rows[1], rows[2], rows[3]
    r4, r5, r6, r7 = rows[4], rows[5], rows[6], rows[7]
    w0, w1, w2, w3 = weight[0], weight[1], weight[2], weight[3]
    w4, w5, w6, w7 = weight[4], weight[5], weight[6], weight[7]
    for j in range(X.shape[1]):
        low = (w0 * X[r0, j] + w1 * X[r1, j]) + (w2 * X[r2, j] + w3 * X[r3, j])
        high = (w4 * X[r4, j] + w5 * X[r5, j]) + (w6 * X[r6, j] + w7 * X[r7, j])
        out[j] += low + high


@numba.njit(fastmath=_FASTMATH, **_JIT)
def logistic_minibatch_grad_dense(X, y, x, idx, lam, out):
    """Minibatch gradient into ``out``: ``(1/B) sum_{i in idx} c_i a_i + lam x``, ``B = len(idx)``.

    ``idx`` (int64, ``B >= 1``) holds row numbers of ``X``; repeats count as often as they
    occur (a row repeated ``k`` times in a row of ``idx`` is computed once, with weight
    ``k``). Sorted ``idx`` makes the row reads sequential and brings all repeats together.
    Writes ``out`` (``(d,)``, its old contents are ignored); returns None.

    Rows go in blocks of ``BLOCK = 8`` distinct rows: the eight margins in one pass over the
    columns, then the eight coefficients (their ``exp`` calls pipeline), then the eight
    updates in one pass over ``out``. A last, partial block is filled up with its first row
    at weight 0.
    """
    d = X.shape[1]
    b = idx.shape[0]
    flat = X.reshape(-1)  # a view (X is C-contiguous), for the prefetch hints
    rows, weight, margins = _block_scratch()
    out[:] = 0.0
    k = 0
    hinted = 0  # idx[:hinted] has been prefetched
    while k < b:
        ahead = min(b, k + PREFETCH_AHEAD)
        while hinted < ahead:
            if hinted == 0 or idx[hinted] != idx[hinted - 1]:
                _prefetch_dense_row(flat, idx[hinted], d)
            hinted += 1
        k, nb = _next_block(idx, k, rows, weight)
        for r in range(nb, BLOCK):
            rows[r] = rows[0]
            weight[r] = 0.0
        _dense_block_margins(X, rows, x, margins)
        _scale_by_coefs(y, rows, margins, weight, nb)
        _dense_block_update(X, rows, weight, out)
    inv_b = 1.0 / b
    for j in range(d):
        out[j] = out[j] * inv_b + lam * x[j]


@numba.njit(**_JIT)
def logistic_minibatch_grad_csr(indptr, indices, data, y, x, idx, lam, out):
    """CSR version of :func:`logistic_minibatch_grad_dense`; same maths, same ``out``."""
    b = idx.shape[0]
    rows, weight, margins = _block_scratch()
    out[:] = 0.0
    k = 0
    hinted_ptr = 0  # indptr of idx[:hinted_ptr] has been prefetched
    hinted = 0  # and the entries (indices, data) of idx[:hinted]
    while k < b:
        ahead = min(b, k + 2 * PREFETCH_AHEAD)
        while hinted_ptr < ahead:
            _prefetch(indptr, idx[hinted_ptr])
            hinted_ptr += 1
        ahead = min(b, k + PREFETCH_AHEAD)
        while hinted < ahead:
            i = idx[hinted]
            p, q = indptr[i], indptr[i + 1] - 1  # the first and last entry: a row's lines
            _prefetch(data, p)
            _prefetch(indices, p)
            if q > p:
                _prefetch(data, q)
                _prefetch(indices, q)
            hinted += 1
        k, nb = _next_block(idx, k, rows, weight)
        for r in range(nb):
            margins[r] = _dot_csr_row(indptr, indices, data, rows[r], x)
        _scale_by_coefs(y, rows, margins, weight, nb)
        for r in range(nb):
            i = rows[r]
            c = weight[r]
            for p in range(indptr[i], indptr[i + 1]):
                out[indices[p]] += c * data[p]
    inv_b = 1.0 / b
    for j in range(out.shape[0]):
        out[j] = out[j] * inv_b + lam * x[j]


# --------------------------------------------------------------------------- full-shard sums


@numba.njit(fastmath=_FASTMATH, **_JIT)
def logistic_loss_grad_sum_dense(X, y, x, grad_out):
    """Sums over all rows of the shard, without ``1/n`` and without the regulariser.

    Returns ``sum_i log(1 + exp(-m_i))`` (nats) and writes ``grad_out = sum_i c_i a_i``.
    The caller adds the sums across ranks, divides by ``n`` and adds ``lam/2 ||x||^2``, ``lam x``.
    """
    d = X.shape[1]
    grad_out[:] = 0.0
    loss = 0.0
    for i in range(X.shape[0]):
        li, c = logistic_loss_and_coef(y[i] * _dot_dense_row(X, i, x), y[i])
        loss += li
        for j in range(d):
            grad_out[j] += c * X[i, j]
    return loss


@numba.njit(**_JIT)
def logistic_loss_grad_sum_csr(indptr, indices, data, y, x, grad_out):
    """CSR version of :func:`logistic_loss_grad_sum_dense`."""
    grad_out[:] = 0.0
    loss = 0.0
    for i in range(indptr.shape[0] - 1):
        li, c = logistic_loss_and_coef(y[i] * _dot_csr_row(indptr, indices, data, i, x), y[i])
        loss += li
        for p in range(indptr[i], indptr[i + 1]):
            grad_out[indices[p]] += c * data[p]
    return loss


@numba.njit(fastmath=_FASTMATH, **_JIT)
def logistic_loss_sum_dense(X, y, x):
    """``sum_i log(1 + exp(-y_i a_i.x))`` over all rows (nats; no ``1/n``, no regulariser)."""
    loss = 0.0
    for i in range(X.shape[0]):
        loss += log1pexp(-y[i] * _dot_dense_row(X, i, x))
    return loss


@numba.njit(**_JIT)
def logistic_loss_sum_csr(indptr, indices, data, y, x):
    """CSR version of :func:`logistic_loss_sum_dense`."""
    loss = 0.0
    for i in range(indptr.shape[0] - 1):
        loss += log1pexp(-y[i] * _dot_csr_row(indptr, indices, data, i, x))
    return loss


# --------------------------------------------------------------------------- smoothness


@numba.njit(fastmath=_FASTMATH, **_JIT)
def max_row_sq_norm_dense(X):
    """``max_i ||a_i||^2`` over the rows of ``X`` (0.0 for no rows)."""
    best = 0.0
    for i in range(X.shape[0]):
        s = 0.0
        for j in range(X.shape[1]):
            s += X[i, j] * X[i, j]
        best = max(best, s)
    return best


@numba.njit(**_JIT)
def max_row_sq_norm_csr(indptr, data):
    """``max_i ||a_i||^2`` over CSR rows (0.0 for no rows or only empty rows)."""
    best = 0.0
    for i in range(indptr.shape[0] - 1):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p] * data[p]
        best = max(best, s)
    return best


def smoothness_constant(max_row_sq_norm: float, lam: float) -> float:
    """``L = lam + max_i ||a_i||^2 / 4``: the per-sample gradient Lipschitz constant.

    Each ``F(.; i)`` has Hessian ``sigmoid'(m) a_i a_i^T + lam I`` with ``sigmoid' <= 1/4``.
    Take the maximum over all ranks' shards before calling this.
    """
    return float(lam) + float(max_row_sq_norm) / 4.0
