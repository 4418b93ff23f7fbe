"""When the rounds of :func:`~crpsgd.algorithms.parallel_sgd.parallel_sgd` can run in
compiled blocks (:mod:`crpsgd.algorithms.fast_rounds`), and what the block then needs.

The conditions: the problem exposes its compiled gradient
(:meth:`~crpsgd.problems.base.Problem.round_kernel`), the schedule is pure (a function of
the round: no slots of its own, no ``observe``), possibly wrapped with the observing noise
estimate across workers (one slot), the step-size rule is one of :mod:`crpsgd.step_size`'s
(a function of the SFO count), no test hook of the communicator is set, the shard has
``2 <= n_local < 2^32`` rows (the compiled sampling's range), the MPI functions can be
called from compiled code (:mod:`crpsgd.comm_native`), and the environment
does not say ``CRPSGD_FAST_ROUNDS=0``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from crpsgd.adaptive import ObservedSchedule
from crpsgd.comm import Communicator
from crpsgd.comm_native import native_mpi
from crpsgd.noise import NoiseEstimator
from crpsgd.problems.base import Problem
from crpsgd.schedules import Schedule
from crpsgd.step_size import ConstantStep, LinearWarmup, StepDecay

ENV = "CRPSGD_FAST_ROUNDS"  # "0": every round on the Python path


@dataclass
class FastPlan:
    """What the compiled block needs besides the loop's arrays."""

    kernel: tuple
    lam: float
    schedule: Schedule  # the pure schedule that gives the batches
    observer: NoiseEstimator | None  # the observing estimate (N >= 2), or none
    mpi: np.ndarray
    handles: tuple


def _pure(schedule: Any) -> bool:
    """A schedule whose batches are a function of the round alone: no slots, no observing."""
    cls = type(schedule)
    return (
        isinstance(schedule, Schedule)
        and not hasattr(schedule, "last")
        and int(schedule.extra_slots) == 0
        and cls.observe is Schedule.observe
        and cls.fill_slots is Schedule.fill_slots
    )


def _known_rule(rule: Any) -> bool:
    if isinstance(rule, LinearWarmup):
        return _known_rule(rule.base)
    return type(rule) in (ConstantStep, StepDecay)


def fast_plan(
    problem: Problem, comm: Communicator, schedule: Schedule, step_size: Any, buf: np.ndarray
) -> FastPlan | None:
    """The plan of the compiled block for this loop, or None: use the Python loop."""
    if os.environ.get(ENV, "1").strip() == "0":
        return None
    if not isinstance(comm, Communicator) or "allreduce_mean_" in vars(comm):
        return None  # not the plain round (a test's stand-in or a replaced method)
    if type(comm).allreduce_mean_ is not Communicator.allreduce_mean_:
        return None
    if comm._fault is not None or comm._stop_at is not None or comm._round_delay_s:
        return None
    kernel = problem.round_kernel()
    if kernel is None or buf.dtype != np.float64 or not _known_rule(step_size):
        return None
    observer = None
    if isinstance(schedule, ObservedSchedule):
        if schedule._own or not _pure(schedule.schedule) or schedule.noise.source != "workers":
            return None
        observer, inner = schedule.noise, schedule.schedule
    elif _pure(schedule):
        inner = schedule
    else:
        return None
    if buf.size != problem.dim + (1 if observer is not None else 0):
        return None
    if not 2 <= problem.n_local <= 0xFFFFFFFF:  # draw_sorted's compiled range
        return None
    native = native_mpi()
    if native is None:
        return None
    handles = (
        native.comm_handle(comm.comm),
        native.handle(native.double),
        native.handle(native.op_sum),
    )
    mpi = np.array([native.allreduce, native.wtime, native.in_place], dtype=np.uint64)
    *arrays, lam = kernel
    return FastPlan(tuple(arrays), float(lam), inner, observer, mpi, handles)
