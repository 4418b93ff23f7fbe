"""A growing inner batch for the periodic-averaging algorithms (Local SGD, post-local SGD,
DiLoCo): ``--schedule`` gives the minibatch of every inner step.

**What ``t`` counts.** The schedule is indexed by the *inner step* of the run, 1-based and
counted across rounds, as Lau et al. (2024) grow the local batch of Local SGD along its steps:
inner step ``t`` of any worker draws ``B_t = schedule.batch(t)`` samples (the exponential
schedule: ``B_t = floor(rho^(t-1) B_1)``). A round is ``h <= H`` consecutive inner steps; the
budget rule of Algorithm 1 applies step by step: inner step ``t`` runs only if
``B_1 + ... + B_t <= T`` (SFO per worker), so the last round may be shorter than ``H`` and the
run ends at the first step whose batch no longer fits. With ``H = 1`` a round is one step and
Local SGD with a schedule is exactly parallel SGD with it (CR-PSGD for ``exponential``).

Only *pure* schedules apply here: batches that are a function of ``t`` alone (``exponential``,
``constant``, any registered schedule without observed statistics). A schedule that observes
its rounds decides a batch per round instead: ``--algo local-sgd --schedule adaptive``
(:mod:`crpsgd.algorithms.local_sgd_adaptive`, whose round sums the inner gradients it needs).
DiLoCo's round averages a model change, not gradients, and post-local SGD's is Local SGD's
after a PSGD phase: both refuse an observing schedule with one message.

The round's ``/rounds`` row has ``batch = B_t`` of its first inner step, ``local_steps = h``,
and ``sfo_per_worker`` grown by ``B_t + ... + B_(t+h-1)``: the batches are recoverable from
the log alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crpsgd.errors import UsageError
from crpsgd.schedules.schedule import Schedule

__all__ = ["InnerBatches", "check_pure", "is_pure"]


def is_pure(schedule: Any) -> bool:
    """Whether ``schedule``'s batches are a function of ``t`` alone (no slots, no observation,
    no estimate): the test of :meth:`~crpsgd.schedules.schedule.Schedule.batch_table`."""
    if not isinstance(schedule, Schedule):
        return callable(schedule)
    return schedule.batch_table(1, 0, 0, np.empty(1, dtype=np.int64)) is not None


def check_pure(schedule: Any, schedule_name: str, algo: str) -> None:
    """Refuse (UsageError, exit status 2) a schedule that observes its rounds."""
    if not is_pure(schedule):
        raise UsageError(
            f"--schedule={schedule_name}: --algo {algo} grows its inner batch only by a schedule "
            "of the step alone (exponential, constant); this one observes each round's averaged "
            "gradient at one point, which a round of local steps does not have"
        )


class InnerBatches:
    """The inner batches of each round from a pure schedule, within a per-worker budget.

    ``t`` is the next inner step (1-based) and ``used`` the SFO per worker spent so far.
    """

    def __init__(self, schedule: Any, budget: int) -> None:
        self.schedule, self.budget = schedule, budget
        self.t, self.used = 1, 0
        self.round: list[int] = []

    def restore(self, sfo_done: int) -> None:
        """Continue after ``sfo_done`` SFO per worker (a checkpoint's): the steps are
        recomputed from the schedule, whose batches must add up to exactly that."""
        t, used = 1, 0
        while used < sfo_done:
            used += self._batch(t)
            t += 1
        if used != sfo_done:
            raise ValueError(
                f"the checkpoint's {sfo_done} SFO per worker is not a sum of the schedule's "
                f"first inner batches (B_1 + ... + B_{t - 1} = {used})"
            )
        self.t, self.used = t, used

    def _batch(self, t: int) -> int:
        b = int(self.schedule.batch(t) if hasattr(self.schedule, "batch") else self.schedule(t))
        if b < 1:
            raise ValueError(f"schedule gave batch size {b} at inner step {t}")
        return b

    def plan(self, period: int) -> list[int]:
        """The batches of the next round's (at most ``period``) inner steps that fit the
        budget; empty when not even the first fits."""
        batches, used = [], self.used
        for k in range(period):
            b = self._batch(self.t + k)
            if used + b > self.budget:
                break
            batches.append(b)
            used += b
        self.round = batches
        return batches

    def done(self) -> int:
        """The planned round ran: advance past it; returns its SFO per worker."""
        sfo = sum(self.round)
        self.t += len(self.round)
        self.used += sfo
        return sfo
