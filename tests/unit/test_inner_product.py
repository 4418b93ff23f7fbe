"""The noise along a direction (inner-product and orthogonality tests): formulas against NumPy,
the per-sample projection kernels against NumPy, unbiasedness against Monte-Carlo truth on a
problem whose Sigma is known exactly (N = 1 and N >= 2), the batch rule, and the schedule's
state round trip (direction included) bit for bit."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from crpsgd.errors import UsageError
from crpsgd.kernels.sample_projections import (
    logistic_projection_sums_csr,
    logistic_projection_sums_dense,
)
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.problems.nonconvex import TwoLayerNetwork
from crpsgd.schedules.adaptive import AdaptiveBatch
from crpsgd.schedules.adaptive_inner import DEFAULT_NU, InnerProductBatch, inner_product_batch
from crpsgd.schedules.inner_product import (
    AlongEstimator,
    cross_worker_along,
    sample_along,
    within_worker_along,
)
from crpsgd.schedules.noise import LocalStats, RoundStats
from tests.unit.test_adaptive import feed, noisy_grads
from tests.unit.test_noise import data, per_sample_data_grads

# --------------------------------------------------------------------------- formulas


def test_cross_worker_along_is_the_sample_variance_of_the_projections_times_b():
    rng = np.random.default_rng(0)
    p = rng.normal(size=5)
    got = cross_worker_along(p.mean(), (p * p).mean(), 5, 8)
    assert got == pytest.approx(8 * np.var(p, ddof=1), rel=1e-12)
    assert math.isnan(cross_worker_along(1.0, 2.0, 1, 8))


def test_within_worker_along_is_the_sample_variance():
    p = np.random.default_rng(1).normal(size=9)
    assert within_worker_along(p.sum(), (p * p).sum(), 9) == pytest.approx(np.var(p, ddof=1))
    assert math.isnan(within_worker_along(1.0, 1.0, 1))


@pytest.mark.parametrize("sparse", [False, True])
def test_projection_kernels_match_numpy(sparse):
    ds = data(sparse)
    rng = np.random.default_rng(3)
    x, u = rng.normal(size=ds.n_features), rng.normal(size=ds.n_features)
    idx = np.sort(rng.integers(0, ds.n_rows, 50)).astype(np.int64)
    proj = per_sample_data_grads(ds, x)[idx] @ u
    if sparse:
        got = logistic_projection_sums_csr(ds.indptr, ds.indices, ds.data, ds.y, x, u, idx)
    else:
        got = logistic_projection_sums_dense(ds.dense, ds.y, x, u, idx)
    np.testing.assert_allclose(got, (proj.sum(), (proj * proj).sum()), rtol=1e-12)


def test_sample_along_needs_a_linear_model():
    ds = data(False, n=50, d=4)
    net = TwoLayerNetwork(ds, ds.n_rows, hidden=3, lam=0.0)
    with pytest.raises(UsageError, match="linear-model"):
        sample_along(net, np.zeros(net.dim), np.arange(4, dtype=np.int64), np.ones(net.dim))


def test_round_one_has_no_direction_and_zero_slots():
    est = AlongEstimator(2, "workers", 0.9)
    view = np.full(2, 7.0)
    g = np.ones(3)
    est.fill(view, LocalStats(1, 4, g))
    assert list(view) == [0.0, 0.0]  # finite: the round's Allreduce must not see a NaN
    assert math.isnan(est.update(RoundStats(1, 4, g, view, 2)))
    np.testing.assert_allclose(est.direction, g / math.sqrt(3))


# --------------------------------------------------------------------------- expectations


@pytest.fixture(scope="module")
def known_sigma():
    """A logistic problem at a fixed point whose per-sample gradients are enumerated, and a
    fixed unit direction u (the previous round's, independent of this round's samples)."""
    ds = data(False, n=500, d=10, seed=2)
    problem = LogisticRegression(ds, ds.n_rows, lam=0.05)
    rng = np.random.default_rng(7)
    x = rng.normal(size=ds.n_features) * 0.3
    H = per_sample_data_grads(ds, x)
    grad = H.mean(axis=0) + 0.05 * x
    u = grad + 0.3 * np.linalg.norm(grad) * rng.normal(size=grad.size) / math.sqrt(grad.size)
    u /= np.linalg.norm(u)  # near the gradient, not on it (a stale direction)
    proj = H @ u
    along = float(((proj - proj.mean()) ** 2).mean())  # population u^T Sigma u
    return problem, x, u, along


@pytest.mark.parametrize(("source", "n_workers"), [("workers", 4), ("samples", 4), ("samples", 1)])
def test_along_estimate_is_unbiased_on_a_known_sigma(known_sigma, source, n_workers):
    """3000 independent rounds (B = 8): the mean estimate is within 4 standard errors of the
    truth, and that standard error is below 3% of it (the test can fail)."""
    problem, x, u, truth = known_sigma
    batch, rounds = 8, 3000
    rng = np.random.default_rng(8)
    values = np.empty(rounds)
    for r in range(rounds):
        est = AlongEstimator(n_workers, source, 0.0)
        est.direction = u
        views, grads = np.zeros((n_workers, 2)), []
        for i in range(n_workers):
            idx = np.sort(rng.integers(0, problem.n_local, batch))
            g = np.empty(problem.dim)
            problem.stochastic_grad(x, idx, g)
            grads.append(g)
            est.fill(views[i], LocalStats(1, batch, g, x, idx, problem))
        stats = RoundStats(1, batch, np.mean(grads, axis=0), views.mean(axis=0), n_workers)
        values[r] = est.update(stats)
    se = values.std(ddof=1) / math.sqrt(rounds)
    assert se < 0.03 * truth
    assert abs(values.mean() - truth) < 4 * se, (values.mean(), truth, se)


# --------------------------------------------------------------------------- the rule


def test_inner_product_rule():
    # along 8, across 92: max(8 / 1, 92 / 4) / (4 * 1) = 23 / 4 -> 6, clipped to [4, 8]
    assert inner_product_batch(4, 4, 1.0, 2.0, 2.0, 100.0, 8.0, 1.0) == 6
    assert inner_product_batch(4, 4, 1.0, 2.0, 2.0, 100.0, 80.0, 1.0) == 8  # max_growth
    assert inner_product_batch(40, 4, 1.0, 2.0, 2.0, 100.0, 8.0, 1.0) == 40  # never shrinks
    # no estimate along u (round 1): the norm test, ceil(100 / (4 * 1)) = 25 -> 8
    assert inner_product_batch(4, 4, 1.0, 2.0, 9.0, 100.0, math.nan, 1.0) == 25
    # an estimate along u outside [0, tr(Sigma)] is clipped into it
    assert inner_product_batch(4, 1, 1.0, 1.0, 99.0, 10.0, -5.0, 1.0) == 10
    assert inner_product_batch(4, 1, 1.0, 1.0, 99.0, 10.0, 50.0, 1.0) == 10
    for trace, grad_sq in ((math.nan, 1.0), (1.0, 0.0), (-1.0, 1.0)):
        assert inner_product_batch(4, 4, 1.0, 2.0, 2.0, trace, 1.0, grad_sq) == 4


def _gradient_on_one_axis(rng, n, batch, d=200, signal=1.0, sigma=20.0):
    """Isotropic noise in d dimensions around a gradient along the first axis: the noise along
    the gradient is tr(Sigma)/d, the rest lies across it (the ill-conditioned case)."""
    mean = np.zeros(d)
    mean[0] = signal
    return [mean + rng.normal(size=d) * sigma / math.sqrt(d * batch) for _ in range(n)]


def test_inner_product_test_grows_later_than_the_norm_test_when_the_noise_is_across():
    """tr(Sigma) = 400, ||grad f||^2 = 1, N = 4, eta = 1: the norm test wants 100 samples; the
    inner-product test max(2 / 1, 398 / nu^2) / 4 = 398 / (4 * 32.2) ~ 3.1, so it stays near
    B_1 = 4."""
    rng = np.random.default_rng(0)
    norm, inner = AdaptiveBatch(4, 4, eta=1.0), InnerProductBatch(4, 4, eta=1.0)
    for t in range(1, 120):
        feed(norm, t, _gradient_on_one_axis(rng, 4, norm.batch(t)))
        feed(inner, t, _gradient_on_one_axis(rng, 4, inner.batch(t)))
    assert norm.batch(120) >= 90
    assert inner.batch(120) <= 12
    assert inner.along.average == pytest.approx(2.0, rel=0.3)
    assert DEFAULT_NU == pytest.approx(5.6713, rel=1e-4)


def test_first_decision_is_the_norm_tests():
    rng = np.random.default_rng(2)
    grads = noisy_grads(rng, 4, 4, signal=1.0, sigma=6.0, d=200)  # wants ~36 / (4 0.64)
    norm, inner = AdaptiveBatch(4, 4, eta=0.8), InnerProductBatch(4, 4, eta=0.8)
    feed(norm, 1, grads)
    feed(inner, 1, grads)
    assert inner.batch(2) == norm.batch(2) > 4


def test_state_and_direction_round_trip_bit_for_bit():
    def run(schedule, rounds):
        for t in range(*rounds):
            r = np.random.default_rng(100 + t)
            feed(schedule, t, noisy_grads(r, 4, schedule.batch(t), signal=0.3, sigma=4.0))

    make = lambda: InnerProductBatch(2, 4, eta=0.5, noise_ema=0.8, nu=2.0)  # noqa: E731
    whole, first = make(), make()
    run(whole, (1, 41))
    run(first, (1, 21))
    saved = json.loads(json.dumps(first.state()))
    arrays = {k: v.copy() for k, v in first.checkpoint_arrays().items()}
    resumed = make()
    resumed.load_state(saved)
    resumed.load_checkpoint_arrays(arrays)
    run(resumed, (21, 41))
    assert resumed.state() == whole.state()
    np.testing.assert_array_equal(resumed.along.direction, whole.along.direction)
    assert len(set(whole.state()["batches"])) > 3  # it grew
    with pytest.raises(UsageError, match="norm test"):
        make().load_state(AdaptiveBatch(2, 4, eta=0.5, noise_ema=0.8).state())


class ChunkedProblem:
    """What the noise estimator takes for a torch problem: a within-worker variance from
    micro-batch chunks, but no per-sample projections."""

    def enable_chunk_variance(self) -> None:
        pass


def test_bad_nu_and_chunked_problems_on_one_worker():
    with pytest.raises(UsageError, match="--nu"):
        InnerProductBatch(2, 4, nu=0.0)
    with pytest.raises(UsageError, match="--adaptive-test inner-product .* N >= 2"):
        InnerProductBatch(2, 1, problem=ChunkedProblem())
    InnerProductBatch(2, 2, problem=ChunkedProblem())  # across workers: no projections needed
