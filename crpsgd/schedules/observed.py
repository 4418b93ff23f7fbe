"""A schedule watched by a noise estimator: the noise columns of every run's log, whatever its
batch schedule (:class:`ObservedSchedule`), and the columns a loop writes from it."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from crpsgd.errors import UsageError
from crpsgd.problems.base import Problem
from crpsgd.schedules.adaptive import DEFAULT_NOISE_EMA
from crpsgd.schedules.noise import NoiseEstimate, NoiseEstimator
from crpsgd.schedules.sample_noise import supports_samples
from crpsgd.schedules.schedule import BatchSchedule, LocalStats, RoundStats, Schedule, as_schedule


class ObservedSchedule(Schedule):
    """Any schedule without its own noise estimate (``exponential``, ``constant``, a plugin's)
    plus the noise estimate for the log: the batches, slots and state are the schedule's, the
    estimator only watches, in one more slot after the schedule's own (so every run logs
    ``noise_var``, ``grad_sq_est`` and ``noise_scale``)."""

    def __init__(
        self,
        schedule: Schedule | BatchSchedule | int,
        n_workers: int,
        noise_ema: float = DEFAULT_NOISE_EMA,
        noise_source: str = "auto",
        problem: Problem | None = None,
    ) -> None:
        self.schedule = as_schedule(schedule)
        self.noise = NoiseEstimator(n_workers, noise_source, noise_ema, problem)
        self._own = int(self.schedule.extra_slots)

    @property
    def extra_slots(self) -> int:  # type: ignore[override]
        return self._own + NoiseEstimator.slots

    @property
    def last(self) -> NoiseEstimate | None:
        return self.noise.last

    def batch(self, t: int) -> int:
        return self.schedule(t)

    __call__ = batch

    def restart(self) -> None:
        getattr(self.schedule, "restart", lambda: None)()

    def batch_table(self, t: int, used: int, budget: int, out: Any) -> int | None:
        """The watched schedule's table, when compiled rounds can compute the estimate (the
        spread across workers, and no slots of the schedule's own); else None."""
        table = getattr(self.schedule, "batch_table", None)
        if self._own or self.noise.source != "workers" or table is None:
            return None
        return table(t, used, budget, out)

    def block_noise(self) -> NoiseEstimator:
        return self.noise

    def fill_slots(self, view: Any, local_stats: LocalStats) -> None:
        if self._own:
            self.schedule.fill_slots(view[: self._own], local_stats)
        self.noise.fill(view[self._own :], local_stats)

    def observe(self, t: int, round_stats: RoundStats) -> None:
        own = round_stats.slots[: self._own]
        self.schedule.observe(t, replace(round_stats, slots=own))
        self.noise.update(replace(round_stats, slots=round_stats.slots[self._own :]))

    def state(self) -> dict[str, Any]:
        inner = self.schedule.state()
        return {"noise": self.noise.state(), **({"schedule": inner} if inner else {})}

    def load_state(self, state: dict[str, Any]) -> None:
        if "noise" not in state:  # a checkpoint from before the estimate: the schedule's own
            self.schedule.load_state(state)
            return
        self.noise.load_state(state["noise"])
        if "schedule" in state:
            self.schedule.load_state(state["schedule"])


def with_noise_estimate(
    schedule: Schedule | BatchSchedule | int,
    n_workers: int,
    problem: Problem | None,
    needed: bool = False,
) -> Schedule:
    """``schedule`` itself when it estimates the noise (has ``last``, as
    :class:`AdaptiveBatch`), else wrapped in :class:`ObservedSchedule`. The watching
    estimate uses the spread across workers (N >= 2) and costs one slot; on one rank the
    schedule is returned as it is and the columns are NaN (the within-worker estimate costs
    a pass over the rows: only ``--schedule adaptive`` on one rank pays it, and a run whose
    step size reads the estimate, ``needed``: ``--lr-scaling adascale``, refused with a
    UsageError where the problem has no within-worker estimate)."""
    schedule = as_schedule(schedule)
    if hasattr(schedule, "last"):
        return schedule
    if n_workers >= 2:
        return ObservedSchedule(schedule, n_workers, DEFAULT_NOISE_EMA, "workers", problem)
    if not needed:
        return schedule
    check_noise_for_step(schedule, n_workers, problem)
    return ObservedSchedule(schedule, n_workers, DEFAULT_NOISE_EMA, "auto", problem)


def check_noise_for_step(schedule: Any, n_workers: int, problem: Problem | None) -> None:
    """Refuse (UsageError) a step size that reads the noise estimate (``--lr-scaling
    adascale``) where none can be had: one worker, a schedule without its own estimate and
    a problem without the within-worker one. The session calls it before the log exists."""
    if n_workers >= 2 or hasattr(schedule, "last"):
        return
    if problem is not None and not supports_samples(problem):
        raise UsageError(
            "--lr-scaling=adascale on one worker needs the within-worker gradient variance, "
            f"which {type(problem).__name__} does not have: run on N >= 2 workers"
        )


NAN_COLUMNS = {"noise_var": math.nan, "grad_sq_est": math.nan, "noise_scale": math.nan}


def noise_columns(schedule: Any) -> dict[str, float]:
    """The three ``/rounds`` columns of the schedule's last estimate (NaN before any)."""
    last = getattr(schedule, "last", None)
    return last.columns() if last is not None else dict(NAN_COLUMNS)
