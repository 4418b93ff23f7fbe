"""Minibatch-gradient kernels of logistic regression, dense and CSR (the hot loop).

See :mod:`crpsgd.kernels.logistic` for the maths, the layouts and why the rows go in blocks
of ``BLOCK`` with prefetch hints ``PREFETCH_AHEAD`` samples ahead.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from crpsgd.kernels.fixed_order import dot_dense_rows8
from crpsgd.kernels.lanes import fma
from crpsgd.kernels.logistic_rows import _JIT, _coef, _dot_csr_row
from crpsgd.kernels.stack import stack_buffer

PREFETCH_AHEAD = 16  # samples; ~ memory latency / time per row, not critical in 8..32
BLOCK = 8  # distinct rows computed together (the dense kernel's block loops are written for 8)


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


@numba.njit(inline="always")
def _block_scratch():
    """``rows``, ``weight``, ``margins``: the ``BLOCK``-long scratch arrays of a minibatch
    kernel, on its stack."""
    rows = numba.carray(stack_buffer(numba.int64, BLOCK), BLOCK)
    weight = numba.carray(stack_buffer(numba.float64, BLOCK), BLOCK)
    margins = numba.carray(stack_buffer(numba.float64, BLOCK), BLOCK)
    return rows, weight, margins


@numba.njit(inline="always")
def _prefetch_dense_row(flat, i, d):
    """Prefetch row ``i`` of a C-contiguous ``(n, d)`` array given as ``flat = X.reshape(-1)``."""
    for j in range(i * d, (i + 1) * d, 8):  # one hint per 64-byte line
        _prefetch(flat, j)
    _prefetch(flat, (i + 1) * d - 1)


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
    """``margins[r] = a_{rows[r]}.x`` for the 8 rows of a block, in one pass over the columns
    (each chunk of ``x`` loaded once for all eight rows), each sum in the lane order of
    :mod:`crpsgd.kernels.fixed_order`: the same bits as ``dot_dense_row`` on every processor."""
    dot_dense_rows8(X, rows, x, margins)


@numba.njit(inline="always")
def _dense_block_update(X, rows, weight, out):
    """``out += sum_r weight[r] a_{rows[r]}`` for the 8 rows of a block, in one pass over
    ``out`` (one load and one store of ``out[j]`` per block, not per row), as a fixed tree of
    products and fused multiply-adds (:func:`crpsgd.kernels.lanes.fma`): elementwise in
    ``j``, so it vectorises without changing a bit."""
    r0, r1, r2, r3 = rows[0], rows[1], rows[2], rows[3]
    r4, r5, r6, r7 = rows[4], rows[5], rows[6], rows[7]
    w0, w1, w2, w3 = weight[0], weight[1], weight[2], weight[3]
    w4, w5, w6, w7 = weight[4], weight[5], weight[6], weight[7]
    for j in range(X.shape[1]):
        p01 = fma(w1, X[r1, j], w0 * X[r0, j])
        p23 = fma(w3, X[r3, j], w2 * X[r2, j])
        p45 = fma(w5, X[r5, j], w4 * X[r4, j])
        p67 = fma(w7, X[r7, j], w6 * X[r6, j])
        out[j] += (p01 + p23) + (p45 + p67)


@numba.njit(**_JIT)
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
