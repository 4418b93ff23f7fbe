"""A block of consecutive PSGD rounds in one compiled (Numba nopython) call.

Round ``k`` of the block, on every rank, does what the Python loop of
:func:`crpsgd.algorithms.parallel_sgd.parallel_sgd` does with the same operations in the same
order, so the iterate, the random stream and the logged columns are bit for bit the same:

1. ``idx`` <- ``batches[k]`` sorted i.i.d. draws from ``0 .. n_local - 1`` (the compiled
   sampling of :mod:`crpsgd.kernels.sampling`, on the generator's own state);
2. ``buf[:d]`` <- the minibatch gradient (the logistic kernels of
   :mod:`crpsgd.kernels.logistic_minibatch`); with the observing noise estimate
   ``buf[d] = ||g_i||^2`` (:func:`crpsgd.kernels.fixed_order.sq_norm`, as the Python path);
3. the round of :meth:`crpsgd.comm.communicator.Communicator.allreduce_mean_`: ``work = [buf,
stop]``,
   ``MPI_Allreduce(IN_PLACE, SUM)``, ``buf <- work[:n] / N`` with the finiteness check and
   the control slot (:func:`crpsgd.kernels.round_buffer.unpack_mean`);
4. the noise estimate across workers (:meth:`crpsgd.schedules.noise.NoiseEstimator.update`,
   ``source = "workers"``): ``tr(Sigma)``, ``||grad f||^2``, their moving averages
   ``est = [trace_m, grad_sq_m, weight]`` and ``noise_scale``;
5. the step ``x <- x - gamma_k gbar`` (``gbar`` scaled in place, as ``Problem.apply_step``).

Per round it stores ``compute_s = (t1 - t0) + (t3 - t2)``, ``comm_s = t2 - t1`` and the
end time ``t3`` (``MPI_Wtime`` seconds) and the three noise columns. The block returns
early after a round whose control slot says some rank asked to stop, after the first round
that ends ``max_seconds`` or more after the block began, and before the step of a round
whose average is not finite (that round is not done; the Python loop raises). It runs
without the GIL, so that the failure watch (:class:`crpsgd.comm.failures.FailureWatch`, a
thread on rank 0) can record another rank's failure while this rank waits in the Allreduce.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.extending import overload

from crpsgd.comm.native import call_allreduce, call_wtime
from crpsgd.kernels.fixed_order import sq_norm
from crpsgd.kernels.logistic_minibatch import (
    logistic_minibatch_grad_csr,
    logistic_minibatch_grad_dense,
)
from crpsgd.kernels.round_buffer import unpack_mean
from crpsgd.kernels.sampling import _RADIX_MIN, _draw, radix_sort
from crpsgd.schedules.noise import cross_worker_estimate, smoothed

DONE, STOPPED, DIVERGED, MPI_FAILED = 0, 1, 2, 3

_JIT = {"cache": True, "nogil": True}  # no GIL: the failure watch thread runs meanwhile

# the estimator's own formulas, compiled: the same operations as the Python path's
_cross_worker_estimate = numba.njit(**_JIT)(cross_worker_estimate)
_smoothed = numba.njit(**_JIT)(smoothed)


def minibatch_grad(arrays, x, rows, lam, out):
    """The problem's minibatch gradient into ``out``: ``arrays`` is ``(indptr, indices, data,
    y)`` (CSR) or ``(dense, y)``; chosen when compiled, so each layout compiles one kernel."""
    raise NotImplementedError("compiled code only")


@overload(minibatch_grad)
def _minibatch_grad(arrays, x, rows, lam, out):
    if len(arrays) == 4:

        def csr(arrays, x, rows, lam, out):
            indptr, indices, data, y = arrays
            logistic_minibatch_grad_csr(indptr, indices, data, y, x, rows, lam, out)

        return csr

    def dense(arrays, x, rows, lam, out):
        logistic_minibatch_grad_dense(arrays[0], arrays[1], x, rows, lam, out)

    return dense


@numba.njit(**_JIT)
def run_rounds(
    data_arrays,
    lam,
    x,
    buf,
    work,
    size_as,
    stop_local,
    rng_fn,
    rng_state,
    n_local,
    idx,
    scratch,
    batches,
    gammas,
    count,
    mpi,
    comm,
    dtype,
    op,
    observe,
    n_workers,
    beta,
    est,
    columns,
    max_seconds,
):
    """Run rounds ``0 .. count - 1`` of the block; see the module docstring.

    ``data_arrays`` is ``(indptr, indices, data, y)`` or ``(dense, y)``; ``mpi`` holds the
    addresses ``[MPI_Allreduce, MPI_Wtime, MPI_IN_PLACE]`` and ``comm, dtype, op`` the
    handles. ``columns`` (6 rows, ``count`` columns at least)
    receives ``noise_var, grad_sq_est, noise_scale, compute_s, comm_s, t_end``. Returns
    ``(rounds done, status, seconds inside the Allreduce-means, MPI error code)``, status
    one of ``DONE, STOPPED, DIVERGED, MPI_FAILED``.
    """
    allreduce, wtime, in_place = mpi[0], mpi[1], mpi[2]
    d = x.size
    n = buf.size
    grad = buf[:d]
    reduce_s = 0.0
    t_begin = call_wtime(wtime)
    for k in range(count):
        t0 = call_wtime(wtime)
        b = batches[k]
        rows = idx[:b]
        _draw(rng_fn, rng_state, n_local, rows)
        if b >= _RADIX_MIN:
            radix_sort(rows, scratch[:b], n_local)
        else:
            rows.sort()
        minibatch_grad(data_arrays, x, rows, lam, grad)
        if observe:
            buf[d] = sq_norm(grad)
        t1 = call_wtime(wtime)
        ta = call_wtime(wtime)
        for i in range(n):
            work[i] = buf[i]
        work[n] = stop_local
        err = call_allreduce(allreduce, in_place, work.ctypes.data, n + 1, dtype, op, comm)
        if err != 0:
            return k, MPI_FAILED, reduce_s, err
        finite, stop = unpack_mean(work, size_as, buf)
        reduce_s += call_wtime(wtime) - ta
        if not finite:
            return k, DIVERGED, reduce_s, 0
        t2 = call_wtime(wtime)
        if observe:
            gbar_sq = sq_norm(grad)
            trace, grad_sq = _cross_worker_estimate(gbar_sq, buf[d], n_workers, b)
            est[0], est[1], est[2] = _smoothed(est[0], est[1], est[2], beta, trace, grad_sq)
            scale = np.nan
            if est[2] > 0.0:
                trace_avg, grad_sq_avg = est[0] / est[2], est[1] / est[2]
                if trace_avg > 0.0 and grad_sq_avg > 0.0:
                    scale = trace_avg / grad_sq_avg
            columns[0, k], columns[1, k], columns[2, k] = trace, grad_sq, scale
        else:
            columns[0, k] = columns[1, k] = columns[2, k] = np.nan
        gamma = gammas[k]
        for j in range(d):
            v = grad[j] * gamma
            grad[j] = v
            x[j] -= v
        t3 = call_wtime(wtime)
        columns[3, k] = (t1 - t0) + (t3 - t2)
        columns[4, k] = t2 - t1
        columns[5, k] = t3
        if stop:
            return k + 1, STOPPED, reduce_s, 0
        if t3 - t_begin >= max_seconds:
            return k + 1, DONE, reduce_s, 0
    return count, DONE, reduce_s, 0
