import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crpsgd.schedules.schedule import (
    ConstantBatch,
    ExponentialBatch,
    batch_sequence,
    predicted_rounds,
    rounds_within_budget,
)


@pytest.mark.parametrize(
    ("budget", "b1", "rho", "expected"),
    [
        (7, 1, 2.0, [1, 2, 4]),  # 1+2+4 = 7 fits exactly
        (6, 1, 2.0, [1, 2]),  # the third batch (4) would need 7 > 6
        (10, 10, 1.5, [10]),  # T == B_1: one round
        (24, 10, 1.5, [10]),  # 10 + 15 = 25 > 24
        (25, 10, 1.5, [10, 15]),
        (100, 4, 1.5, [4, 6, 9, 13, 20, 30]),  # floor(4*1.5^k): 4 6 9 13.5 20.25 30.375
        (12, 3, 1.1, [3, 3, 3, 3]),  # floor keeps early batches equal when rho is small
        (1000, 125, 1.2, [125, 150, 180, 216, 259]),  # 1.2^3*125 = 216 exactly (float: 215)
        (5, 8, 2.0, []),  # first batch already exceeds the budget
    ],
)
def test_exponential_sequence_and_stopping_round(budget, b1, rho, expected):
    assert batch_sequence(ExponentialBatch(b1, rho), budget) == expected


def test_constant_schedule_gives_floor_t_over_b_rounds():
    assert batch_sequence(ConstantBatch(3), 10) == [3, 3, 3]
    assert batch_sequence(4, 16) == [4, 4, 4, 4]  # a plain int is a constant schedule


def test_fast_path_agrees_with_exact_arithmetic():
    for rho in (1.01, 1.1, 1.2, 1.25, 1.5, 2.0, 2.5, 1.0176384009445423):
        sched = ExponentialBatch(3, rho)
        for t in range(1, 400):
            exact = math.floor(Fraction(repr(rho)) ** (t - 1) * 3)
            if exact >= 2**60:
                break
            assert sched(t) == exact, (rho, t)


def test_schedule_is_floor_of_rho_power_exactly():
    sched = ExponentialBatch(7, 1.3)
    for t in range(1, 30):
        # 1.3 = 13/10 exactly as a decimal: integer arithmetic reference
        assert sched(t) == (7 * 13 ** (t - 1)) // 10 ** (t - 1)


def test_resume_continues_the_same_sequence():
    sched = ExponentialBatch(2, 1.7)
    full = batch_sequence(sched, 5000)
    assert list(rounds_within_budget(sched, 5000, start=4)) == full[3:]


@settings(deadline=None)
@given(
    budget=st.integers(1, 10**7),
    b1=st.integers(1, 1000),
    rho=st.floats(1.01, 4.0),
)
def test_budget_is_never_exceeded_and_the_next_round_would(budget, b1, rho):
    sched = ExponentialBatch(b1, rho)
    seq = batch_sequence(sched, budget)
    assert sum(seq) <= budget
    assert sum(seq) + sched(len(seq) + 1) > budget
    assert seq == [sched(t) for t in range(1, len(seq) + 1)]
    assert all(a <= b for a, b in zip(seq, seq[1:], strict=False))


@settings(deadline=None)
@given(budget=st.integers(10**3, 10**9), b1=st.integers(1, 64), rho=st.floats(1.05, 3.0))
def test_round_count_is_logarithmic(budget, b1, rho):
    rounds = len(batch_sequence(ExponentialBatch(b1, rho), budget))
    # floor() only shrinks batches: at least the continuous count of rounds fits, minus one ...
    assert rounds >= math.floor(predicted_rounds(b1, rho, budget)) - 1
    # ... and each batch is above rho^(t-1) B_1 - 1, so those R rounds used more than
    # B_1 (rho^R - 1) / (rho - 1) - R of the budget.
    assert b1 * (rho**rounds - 1) / (rho - 1) - rounds <= budget


def test_bad_round_index():
    with pytest.raises(ValueError, match="t=0"):
        ExponentialBatch(1, 2.0)(0)
