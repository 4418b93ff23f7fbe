"""When the rounds of :class:`~crpsgd.algorithms.parallel_sgd.ParallelSGD` can run in
compiled blocks (:mod:`crpsgd.algorithms.fast_rounds`), and what the block then needs.

The plan asks the parts, never their private state: the problem for its compiled gradient
(:meth:`~crpsgd.problems.base.Problem.round_kernel`), the schedule for a table of its
batches (:meth:`~crpsgd.schedules.schedule.Schedule.batch_table`: None unless a function of the
round alone) and the noise estimate the block computes (``block_noise``), the step-size rule for a
table of step sizes (``table``: :mod:`crpsgd.schedules.step_size`), the learning-rate scaling
for a table of its factors (``table``: :mod:`crpsgd.schedules.lr_scaling`; None for
``adascale``, whose factor follows the estimates), and the communicator for the MPI
functions compiled code can call (:meth:`~crpsgd.comm.communicator.Communicator.native_handles`:
None under a test hook or a replaced round). Any None, a shard outside ``2 <= n_local < 2^32``
rows (the compiled sampling's range), or ``CRPSGD_FAST_ROUNDS=0`` in the environment: the
rounds stay on the Python path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from crpsgd.problems.base import Problem
from crpsgd.schedules.lr_scaling import LrScaling
from crpsgd.schedules.noise import NoiseEstimator
from crpsgd.schedules.schedule import Schedule

ENV = "CRPSGD_FAST_ROUNDS"  # "0": every round on the Python path


@dataclass
class FastPlan:
    """What the compiled block needs besides the loop's arrays."""

    kernel: tuple
    lam: float
    schedule: Schedule  # its batch_table gives the batches
    observer: NoiseEstimator | None  # the observing estimate (N >= 2), or none
    mpi: np.ndarray
    handles: tuple
    scaling: LrScaling | None = None  # --lr-scaling (None: constant)
    base_batch: int = 1  # B_1, what the scaling is relative to


def _asks(part: Any, method: str, *probe: Any) -> bool:
    """Whether ``part`` has ``method`` and it does not answer None to an empty ``probe``."""
    seam = getattr(part, method, None)
    return seam is not None and seam(*probe) is not None


def fast_plan(
    problem: Problem,
    comm: Any,
    schedule: Schedule,
    step_size: Any,
    buf: np.ndarray,
    scaling: LrScaling | None = None,
) -> FastPlan | None:
    """The plan of the compiled block for this loop, or None: use the Python loop."""
    if os.environ.get(ENV, "1").strip() == "0":
        return None
    kernel = problem.round_kernel()
    if kernel is None or buf.dtype != np.float64:
        return None
    empty = np.zeros(0, dtype=np.int64)
    if not _asks(step_size, "table", empty) or not _asks(schedule, "batch_table", 1, 0, 0, empty):
        return None
    if scaling is not None and not _asks(scaling, "table", empty, 1):
        return None
    observer = schedule.block_noise() if hasattr(schedule, "block_noise") else None
    if buf.size != problem.dim + (1 if observer is not None else 0):
        return None
    if not 2 <= problem.n_local <= 0xFFFFFFFF:  # draw_sorted's compiled range
        return None
    native = getattr(comm, "native_handles", None)
    found = native() if native is not None else None
    if found is None:
        return None
    mpi, handles = found
    *arrays, lam = kernel
    base = schedule.batch(1) if scaling is not None else 1
    return FastPlan(tuple(arrays), float(lam), schedule, observer, mpi, handles, scaling, base)
