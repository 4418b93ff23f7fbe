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
which never overflows. No kernel uses ``fastmath``: the dense kernels sum each row in the
fixed lane order of :mod:`crpsgd.kernels.fixed_order` (eight partial sums, which vectorise on
any vector width without changing a bit), the CSR kernels in the order of the row's entries,
and ``exp``/``log1p`` are those of :mod:`crpsgd.kernels.elementary`; so every kernel gives the
same bits on every x86-64 processor. The results differ from a left-to-right sum by rounding
only (the tests hold them to 1e-12 relative); NaN and inf propagate as usual.

The minibatch kernels prefetch the rows ``PREFETCH_AHEAD`` samples ahead into L2: with
``B << n`` the sorted sampled rows are scattered, and demand misses alone leave the core
waiting on memory. They work in blocks of ``BLOCK`` distinct rows (margins, then the
coefficients' ``exp`` calls, then the updates), which keeps several rows' reads and ``exp``
calls in flight at once, and they compute a row drawn ``k`` times once, with weight ``k``
(with ``B`` near ``n`` a large share of the draws are repeats). Summation order therefore
differs from a sample-by-sample loop by rounding only.

This module is the kernels' public face; they live by job in
:mod:`~crpsgd.kernels.logistic_rows` (per-row scalar maths),
:mod:`~crpsgd.kernels.logistic_minibatch` (the minibatch gradients, blocks and prefetch) and
:mod:`~crpsgd.kernels.logistic_sums` (full-shard sums and row-norm bounds).
"""

from __future__ import annotations

from crpsgd.kernels.logistic_minibatch import (
    BLOCK,
    PREFETCH_AHEAD,
    _prefetch_dense_row,
    logistic_minibatch_grad_csr,
    logistic_minibatch_grad_dense,
)
from crpsgd.kernels.logistic_rows import log1pexp, logistic_loss_and_coef
from crpsgd.kernels.logistic_sums import (
    logistic_curvature_weights_csr,
    logistic_curvature_weights_dense,
    logistic_loss_grad_sum_csr,
    logistic_loss_grad_sum_dense,
    logistic_loss_sum_csr,
    logistic_loss_sum_dense,
    max_row_sq_norm_csr,
    max_row_sq_norm_dense,
    smoothness_constant,
)

__all__ = [
    "BLOCK",
    "PREFETCH_AHEAD",
    "_prefetch_dense_row",
    "log1pexp",
    "logistic_loss_and_coef",
    "logistic_minibatch_grad_dense",
    "logistic_minibatch_grad_csr",
    "logistic_loss_grad_sum_dense",
    "logistic_loss_grad_sum_csr",
    "logistic_loss_sum_dense",
    "logistic_loss_sum_csr",
    "logistic_curvature_weights_dense",
    "logistic_curvature_weights_csr",
    "max_row_sq_norm_dense",
    "max_row_sq_norm_csr",
    "smoothness_constant",
]
