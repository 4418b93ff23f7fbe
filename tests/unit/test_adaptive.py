"""The adaptive batch schedule: the growth rule, its bounds, the budget, resume, and the
fixed schedule's rho warning."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crpsgd.errors import UsageError
from crpsgd.params import Param
from crpsgd.schedules.adaptive import PARAMS, AdaptiveBatch, next_batch, rho_warning
from crpsgd.schedules.noise import LocalStats, RoundStats
from crpsgd.schedules.observed import ObservedSchedule
from crpsgd.schedules.schedule import ExponentialBatch, rounds_within_budget


def feed(schedule, t: int, grads: list[np.ndarray]) -> None:
    """Round ``t`` with the workers' minibatch means ``grads``: fill, Allreduce-mean, observe."""
    views = np.zeros((len(grads), schedule.extra_slots))
    for i, g in enumerate(grads):
        schedule.fill_slots(views[i], LocalStats(t, schedule.batch(t), g))
    stats = RoundStats(t, schedule.batch(t), np.mean(grads, axis=0), views.mean(axis=0), len(grads))
    schedule.observe(t, stats)


def noisy_grads(
    rng: np.random.Generator, n: int, batch: int, signal: float, sigma: float, d: int = 5
):
    """N minibatch means of a gradient of norm ``signal`` whose samples have tr(Sigma) = sigma^2
    (isotropic in ``d`` dimensions)."""
    mean = np.full(d, signal / math.sqrt(d))
    return [mean + rng.normal(size=d) * sigma / math.sqrt(d * batch) for _ in range(n)]


def test_next_batch_rule():
    # ceil(trace / (N eta^2 grad_sq)) = ceil(100 / (4 * 0.25 * 10)) = 10, within [8, 16]
    assert next_batch(8, 4, 0.5, 2.0, 100.0, 10.0) == 10
    assert next_batch(8, 4, 0.5, 2.0, 1.0, 10.0) == 8  # never smaller
    assert next_batch(8, 4, 0.5, 2.0, 1e6, 10.0) == 16  # at most max_growth times
    assert next_batch(8, 4, 0.5, 1.5, 1e6, 10.0) == 12
    assert next_batch(3, 4, 0.5, 1.2, 1e6, 10.0) == 3  # floor(3.6) = 3
    assert next_batch(8, 4, 0.5, 2.0, 1e300, 1e-300) == 16  # inf ratio
    for trace, grad_sq in ((math.nan, 1.0), (1.0, math.nan), (-1.0, 1.0), (1.0, -1.0), (0, 1)):
        assert next_batch(8, 4, 0.5, 2.0, trace, grad_sq) == 8
    assert next_batch(8, 4, 0.5, 2.0, 1.0, 0.0) == 8


@settings(max_examples=200, deadline=None)
@given(
    b1=st.integers(1, 64),
    n=st.integers(2, 8),
    eta=st.floats(0.05, 4.0),
    max_growth=st.floats(1.0, 4.0),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(-3, 3),
)
def test_never_shrinks_never_grows_more_than_max_growth(b1, n, eta, max_growth, seed, scale):
    rng = np.random.default_rng(seed)
    s = AdaptiveBatch(b1, n, eta=eta, max_growth=max_growth, noise_ema=0.5)
    for t in range(1, 25):
        b = s.batch(t)
        signal = 10.0**scale * rng.random()
        grads = noisy_grads(rng, n, b, signal, sigma=1.0)
        if t % 7 == 0:
            grads[0] = grads[0] * 1e30  # an outlier round
        feed(s, t, grads)
        assert b <= s.batch(t + 1) <= max(b, math.floor(max_growth * b))


def test_batch_follows_the_noise_scale():
    """A fixed noise scale tr(Sigma)/||grad f||^2 = 400, N = 4, eta = 1: the batch rises to
    400 / (4 * 1) = 100 and stays near it. Never shrinking, the batch is the running maximum
    of noisy decisions and overshoots a little (in 200 dimensions the estimates are good)."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        s = AdaptiveBatch(4, 4, eta=1.0, max_growth=2.0, noise_ema=0.9)
        for t in range(1, 200):
            feed(s, t, noisy_grads(rng, 4, s.batch(t), signal=1.0, sigma=20.0, d=200))
        assert 90 <= s.batch(200) <= 130
        assert s.last.noise_scale == pytest.approx(400.0, rel=0.1)


def test_the_budget_is_never_exceeded():
    rng = np.random.default_rng(1)
    for budget in (1, 7, 100, 5000, 123457):
        s = AdaptiveBatch(4, 3, eta=0.5, max_growth=2.0)
        used, t = 0, 0
        for b in rounds_within_budget(s, budget):
            t += 1
            used += b
            feed(s, t, noisy_grads(rng, 3, b, signal=0.1, sigma=5.0))
        assert used <= budget
        assert budget < 4 or used + s.batch(t + 1) > budget  # stopped at the first misfit


def test_state_round_trip_continues_bit_for_bit():
    def run(schedule, rounds, seed_base):
        for t in range(rounds[0], rounds[1]):
            r = np.random.default_rng(seed_base + t)
            feed(schedule, t, noisy_grads(r, 4, schedule.batch(t), signal=0.3, sigma=4.0))

    whole = AdaptiveBatch(2, 4, eta=0.7, noise_ema=0.8)
    run(whole, (1, 61), 10)
    first = AdaptiveBatch(2, 4, eta=0.7, noise_ema=0.8)
    run(first, (1, 31), 10)
    saved = json.loads(json.dumps(first.state(), sort_keys=True))  # as a checkpoint keeps it
    resumed = AdaptiveBatch(2, 4, eta=0.7, noise_ema=0.8)
    resumed.load_state(saved)
    run(resumed, (31, 61), 10)
    assert resumed.state() == whole.state()
    assert [resumed.batch(t) for t in range(1, 62)] == [whole.batch(t) for t in range(1, 62)]
    assert resumed.last == whole.last  # the same floats, bit for bit
    assert len(set(whole.state()["batches"])) > 3  # it did grow
    # resuming within rounds_within_budget recomputes the SFO of the earlier rounds
    budget = sum(whole.state()["batches"][:40])
    assert list(rounds_within_budget(resumed, budget, start=31)) == whole.state()["batches"][30:40]


def test_resume_refuses_another_configuration():
    s = AdaptiveBatch(2, 4, noise_ema=0.8)
    with pytest.raises(UsageError, match="--b1 4"):
        AdaptiveBatch(4, 4, noise_ema=0.8).load_state(s.state())
    with pytest.raises(UsageError, match="smoothing"):
        AdaptiveBatch(2, 4, noise_ema=0.5).load_state(s.state())


def test_rounds_must_be_observed_in_order():
    s = AdaptiveBatch(4, 2)
    with pytest.raises(ValueError, match="round 2"):
        s.batch(2)
    g = [np.ones(3), np.zeros(3)]
    with pytest.raises(ValueError, match="expected round 1"):
        s.observe(2, RoundStats(2, 4, np.mean(g, axis=0), np.zeros(1), 2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eta": 0.0}, "--eta 0.0: must be > 0"),
        ({"max_growth": 0.9}, "--max-growth 0.9: must be >= 1"),
        ({"noise_ema": -0.1}, "--noise-ema -0.1"),
        ({"noise_source": "workers", "n": 1}, "needs at least 2 workers"),
    ],
)
def test_bad_values_name_the_flag(kwargs, message):
    n = kwargs.pop("n", 2)
    with pytest.raises(UsageError, match=message):
        AdaptiveBatch(4, n, **kwargs)


def test_observed_schedule_keeps_the_pure_batches_and_logs_the_noise():
    pure = ExponentialBatch(4, 1.5)
    s = ObservedSchedule(pure, 2, noise_ema=0.0)
    rng = np.random.default_rng(3)
    for t in range(1, 10):
        assert s.batch(t) == s(t) == pure(t)
        feed(s, t, noisy_grads(rng, 2, s.batch(t), 1.0, 1.0))
    assert set(s.last.columns()) == {"noise_var", "grad_sq_est", "noise_scale"}
    again = ObservedSchedule(pure, 2, noise_ema=0.0)
    again.load_state(json.loads(json.dumps(s.state())))
    assert again.state() == s.state()


def test_params_are_config_records():
    names = [p.name for p in PARAMS]
    # the growth is chosen by --schedule adaptive (a registered part), not a --growth flag
    assert names == ["eta", "max_growth", "noise_ema", "noise_source"]
    assert all(isinstance(p, Param) for p in PARAMS)
    by_name = {p.name: p for p in PARAMS}
    assert by_name["eta"].check(0.0) and by_name["eta"].check(1.0) is None
    assert by_name["max_growth"].check(0.5) and by_name["max_growth"].check(2.0) is None
    assert by_name["noise_ema"].check(1.0) and by_name["noise_ema"].check(0.0) is None


def test_rho_warning():
    # gamma lambda = 0.01: the bound is 1/0.99 = 1.0101...
    text = rho_warning(1.0, 0.01, 1.05)
    assert text == (
        "rho >= 1/(1 − gamma lambda) = 1.0101: the analysis's condition 1 < rho < "
        "1/(1 − gamma mu) fails with mu >= lambda; it wants rho < 1.0101"
    )
    assert rho_warning(1.0, 0.01, 1.01) is None  # below 1.0101...
    assert rho_warning(1.0, 0.01, 1 / 0.99) is not None  # at the bound
    assert rho_warning(2.0, 1.0, 1.5) is None  # gamma lambda >= 1: no finite bound
    assert rho_warning(1.0, 0.0, 1.5) is None  # no regularisation: nothing known of mu
    tiny = rho_warning(1.0, 1e-6, 1.1)
    assert "= 1.000001:" in tiny and tiny.endswith("rho < 1.000001")
