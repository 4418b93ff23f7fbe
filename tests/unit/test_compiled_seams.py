"""The seams the compiled block asks (issue 17): each part says itself whether its rounds can
be tabulated or called from compiled code, without anyone reading its private state."""

from __future__ import annotations

import numpy as np
import pytest

from crpsgd.comm.communicator import Communicator
from crpsgd.schedules.adaptive import AdaptiveBatch
from crpsgd.schedules.observed import ObservedSchedule
from crpsgd.schedules.schedule import ConstantBatch, ExponentialBatch, FunctionSchedule, Schedule
from crpsgd.schedules.step_size import ConstantStep, LinearWarmup, StepDecay


def _table(schedule, t, used, budget, size=64):
    out = np.zeros(size, dtype=np.int64)
    count = schedule.batch_table(t, used, budget, out)
    return None if count is None else list(out[:count])


@pytest.mark.parametrize(
    "schedule", [ConstantBatch(7), ExponentialBatch(3, 1.3), FunctionSchedule(lambda t: t)]
)
@pytest.mark.parametrize("t, used, budget", [(1, 0, 500), (4, 30, 500), (2, 0, 5), (1, 0, 0)])
def test_batch_table_is_the_budget_rule_of_batch(schedule, t, used, budget):
    want = []
    while True:
        b = schedule.batch(t + len(want))
        if used + b > budget or len(want) == 64:
            break
        used += b
        want.append(b)
    assert _table(schedule, t, used - sum(want), budget) == want


def test_batch_table_is_none_where_the_batches_need_the_rounds():
    class Observing(Schedule):
        def batch(self, t):
            return 2

        def observe(self, t, stats):
            pass

    assert _table(AdaptiveBatch(4, 2), 1, 0, 100) is None
    assert _table(Observing(), 1, 0, 100) is None
    watched = ObservedSchedule(5, 2, noise_source="workers")
    assert _table(watched, 1, 0, 12) == [5, 5] and watched.block_noise() is watched.noise
    assert _table(ObservedSchedule(AdaptiveBatch(4, 2), 2, noise_source="workers"), 1, 0, 9) is None
    assert Schedule.block_noise(ConstantBatch(3)) is None


def test_step_size_table_is_the_rule_or_none():
    sfo = np.array([0, 10, 49, 50, 74, 75, 99], dtype=np.int64)
    for rule in (ConstantStep(0.3), StepDecay(0.3, 100), LinearWarmup(StepDecay(0.3, 100), 60)):
        assert rule.table(sfo).tolist() == [rule(int(s)) for s in sfo]
    assert LinearWarmup(lambda s: 0.1, 10).table(sfo) is None


def test_native_handles_only_for_the_plain_round(monkeypatch):
    comm = Communicator()
    found = comm.native_handles()
    assert found is not None and found[0].dtype == np.uint64 and len(found[1]) == 3
    monkeypatch.setattr(comm, "allreduce_mean_", lambda buf: buf)
    assert comm.native_handles() is None
    monkeypatch.undo()
    for hook, value in (
        ("_fault", ("round", 3)),
        ("_stop_at", ("round", 1)),
        ("_round_delay_s", 1),
    ):
        monkeypatch.setattr(comm, hook, value)
        assert comm.native_handles() is None
        monkeypatch.undo()

    class Traced(Communicator):
        def allreduce_mean_(self, buf):
            return super().allreduce_mean_(buf)

    assert Traced().native_handles() is None
