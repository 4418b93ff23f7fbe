"""The gradient-noise estimator: formulas against NumPy, per-sample kernels against NumPy,
and the estimates' expectations on a problem whose Sigma is known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from crpsgd.comm.communicator import Communicator
from crpsgd.data.dataset import Dataset
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.errors import UsageError
from crpsgd.kernels.sample_norms import (
    logistic_coef_sq_norm_sum_csr,
    logistic_coef_sq_norm_sum_dense,
)
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.problems.nonconvex import NonconvexLogisticRegression, TwoLayerNetwork
from crpsgd.problems.proximal import ProximalProblem
from crpsgd.schedules.adaptive import AdaptiveBatch
from crpsgd.schedules.noise import (
    LocalStats,
    NoiseEstimator,
    RoundStats,
    chunk_trace,
    cross_worker_estimate,
    resolve_source,
    sample_trace,
    within_worker_trace,
)


def data(sparse: bool, n: int = 400, d: int = 12, seed: int = 1) -> Dataset:
    density = 0.3 if sparse else 1.0
    spec = parse_synthetic_spec(f"synthetic:n={n},d={d},density={density},seed={seed}")
    return synthetic_rows(spec, 0, n)


def per_sample_data_grads(ds: Dataset, x: np.ndarray) -> np.ndarray:
    """NumPy: the data part ``c_j a_j`` of every row's logistic gradient (n x d)."""
    A = ds.to_dense()
    m = ds.y * (A @ x)
    c = -ds.y / (1.0 + np.exp(m))
    return c[:, None] * A


def one_round(est: NoiseEstimator, grads: list[np.ndarray], batch: int, locals_=None):
    """Simulate the Allreduce-mean in process: every worker fills, the slots are averaged."""
    n = len(grads)
    views = np.zeros((n, 1))
    for i, g in enumerate(grads):
        local = LocalStats(1, batch, g) if locals_ is None else locals_[i]
        est.fill(views[i], local)
    gbar = np.mean(grads, axis=0)
    return est.update(RoundStats(1, batch, gbar, views.mean(axis=0), n))


# --------------------------------------------------------------------------- formulas


def test_cross_worker_estimate_is_the_sample_variance_across_workers():
    rng = np.random.default_rng(0)
    for n in (2, 3, 4, 10):
        G = rng.normal(size=(n, 7)) + 3.0
        gbar = G.mean(axis=0)
        trace, grad_sq = cross_worker_estimate(
            float(gbar @ gbar), float((G * G).sum(axis=1).mean()), n, batch=16
        )
        want = 16 * G.var(axis=0, ddof=1).sum()
        assert trace == pytest.approx(want, rel=1e-12)
        assert grad_sq == pytest.approx(gbar @ gbar - want / (n * 16), rel=1e-12)
    assert all(math.isnan(v) for v in cross_worker_estimate(1.0, 2.0, 1, 4))


def test_within_worker_trace_is_the_sample_variance():
    rng = np.random.default_rng(1)
    H = rng.normal(size=(9, 5))
    hbar = H.mean(axis=0)
    got = within_worker_trace(float((H * H).sum()), float(hbar @ hbar), 9)
    assert got == pytest.approx(H.var(axis=0, ddof=1).sum(), rel=1e-12)
    assert math.isnan(within_worker_trace(1.0, 1.0, 1))


def test_chunk_trace_is_the_weighted_spread_of_the_chunk_means():
    """(1/(k-1)) sum_c m_c ||g_c - g||^2 from the per-sample rows of unequal chunks; chunks of
    one sample give the sample variance."""
    rng = np.random.default_rng(2)
    H = rng.normal(size=(10, 4))
    chunks = np.split(H, [4, 7, 9])  # sizes 4, 3, 2, 1
    m = np.array([c.shape[0] for c in chunks], dtype=float)
    means = np.array([c.mean(axis=0) for c in chunks])
    g = H.mean(axis=0)
    want = (m * ((means - g) ** 2).sum(axis=1)).sum() / (len(chunks) - 1)
    got = chunk_trace(float((m * (means**2).sum(axis=1)).sum()), float(g @ g), 10, len(chunks))
    assert got == pytest.approx(want, rel=1e-12)
    singles = chunk_trace(float((H * H).sum()), float(g @ g), 10, 10)
    assert singles == pytest.approx(H.var(axis=0, ddof=1).sum(), rel=1e-12)
    assert math.isnan(chunk_trace(1.0, 1.0, 4, 1))


@pytest.mark.parametrize("sparse", [False, True])
def test_sample_kernels_match_numpy(sparse):
    ds = data(sparse)
    x = np.random.default_rng(2).normal(size=ds.n_features)
    idx = np.sort(np.random.default_rng(3).integers(0, ds.n_rows, 300))  # with repeats
    H = per_sample_data_grads(ds, x)[idx]
    want = float((H * H).sum())
    if sparse:
        got = logistic_coef_sq_norm_sum_csr(ds.indptr, ds.indices, ds.data, ds.y, x, idx)
    else:
        got = logistic_coef_sq_norm_sum_dense(ds.dense, ds.y, x, idx)
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("kind", ["logreg", "nonconvex", "proximal"])
def test_sample_trace_is_the_variance_of_the_per_sample_gradients(kind):
    ds = data(sparse=kind == "nonconvex")
    base = LogisticRegression(ds, ds.n_rows, lam=0.1)
    if kind == "nonconvex":
        base = NonconvexLogisticRegression(ds, ds.n_rows, lam=0.1, alpha=1.0)
    problem = base if kind != "proximal" else ProximalProblem(base, 2.0, np.ones(ds.n_features))
    x = np.random.default_rng(4).normal(size=ds.n_features)
    idx = np.sort(np.random.default_rng(5).integers(0, ds.n_rows, 64))
    grad = np.empty(ds.n_features)
    problem.stochastic_grad(x, idx, grad)
    got = sample_trace(problem, x, idx, grad, np.empty_like(grad))
    want = per_sample_data_grads(ds, x)[idx].var(axis=0, ddof=1).sum()
    assert got == pytest.approx(want, rel=1e-9)


def test_samples_need_a_linear_model():
    ds = data(False, d=4)
    net = TwoLayerNetwork(ds, ds.n_rows, hidden=3, lam=0.0)
    x = net.initial_point(0)
    idx = np.arange(8, dtype=np.int64)
    g = np.empty(net.dim)
    net.stochastic_grad(x, idx, g)
    est = NoiseEstimator(1, "samples")
    with pytest.raises(UsageError, match="linear-model problem"):
        est.fill(np.zeros(1), LocalStats(1, 8, g, x, idx, net))


def test_one_worker_without_a_within_worker_estimate():
    """auto: NaN estimates and a 0 slot (never a NaN in the round's buffer); explicit samples
    and adaptive growth: refused when built, not in the middle of the run."""
    ds = data(False, d=4)
    net = TwoLayerNetwork(ds, ds.n_rows, hidden=3, lam=0.0)
    est = NoiseEstimator(1, "auto", problem=net)
    assert est.source == "none"
    g = np.ones(net.dim)
    view = np.full(1, 7.0)
    est.fill(view, LocalStats(1, 8, g))
    assert view[0] == 0.0
    e = est.update(RoundStats(1, 8, g, view, 1))
    assert math.isnan(e.trace) and math.isnan(e.grad_sq) and math.isnan(e.noise_scale)
    with pytest.raises(UsageError, match="--noise-source samples needs a linear-model"):
        NoiseEstimator(1, "samples", problem=net)
    with pytest.raises(UsageError, match="--schedule adaptive on one worker"):
        AdaptiveBatch(4, 1, problem=net)
    assert NoiseEstimator(2, "auto", problem=net).source == "workers"
    assert NoiseEstimator(1, "auto", problem=LogisticRegression(ds, ds.n_rows, 0.1)).source == (
        "samples"
    )


def test_a_batch_of_one_leaves_the_buffer_finite():
    ds = data(False)
    problem = LogisticRegression(ds, ds.n_rows, lam=0.0)
    comm = Communicator(MPI.COMM_SELF)
    est = NoiseEstimator(1, "samples", problem=problem)
    x = np.zeros(ds.n_features)
    buf = np.empty(ds.n_features + 1)
    idx = np.array([5], dtype=np.int64)
    problem.stochastic_grad(x, idx, buf[:-1])
    est.fill(buf[-1:], LocalStats(1, 1, buf[:-1], x, idx, problem))
    comm.allreduce_mean_(buf)  # would raise DivergenceError on a NaN slot
    assert math.isnan(est.update(RoundStats(1, 1, buf[:-1], buf[-1:], 1)).trace)


def test_sources_and_bad_values():
    assert resolve_source("auto", 1) == "samples" and resolve_source("auto", 2) == "workers"
    with pytest.raises(UsageError, match="--noise-source workers needs at least 2"):
        resolve_source("workers", 1)
    with pytest.raises(UsageError, match="--noise-source 'x'"):
        resolve_source("x", 4)
    with pytest.raises(UsageError, match="--noise-ema 1.0"):
        NoiseEstimator(2, smoothing=1.0)


# --------------------------------------------------------------------------- smoothing


def test_moving_averages_are_bias_corrected_and_skip_undefined_rounds():
    beta = 0.8
    est = NoiseEstimator(2, "workers", smoothing=beta)
    rng = np.random.default_rng(6)
    traces, grads = [], []
    for t in range(12):
        G = [rng.normal(size=3) + 1.0, rng.normal(size=3) + 1.0]
        batch = 4 if t != 5 else 4
        e = one_round(est, G, batch)
        traces.append(e.trace)
        grads.append(e.grad_sq)
        k = len(traces)
        w = (1 - beta) * beta ** np.arange(k - 1, -1, -1)
        assert e.trace_avg == pytest.approx(np.dot(w, traces) / w.sum(), rel=1e-12)
        assert e.grad_sq_avg == pytest.approx(np.dot(w, grads) / w.sum(), rel=1e-12)
    # within workers with B = 1 the variance is undefined: the averages stay
    est = NoiseEstimator(1, "samples", smoothing=0.5)
    ds = data(False)
    problem = LogisticRegression(ds, ds.n_rows, lam=0.0)
    x = np.zeros(ds.n_features)
    g = np.empty(ds.n_features)
    idx = np.array([3], dtype=np.int64)
    problem.stochastic_grad(x, idx, g)
    e = one_round(est, [g], 1, [LocalStats(1, 1, g, x, idx, problem)])
    assert math.isnan(e.trace) and math.isnan(e.trace_avg) and math.isnan(e.noise_scale)


def test_noise_scale_and_columns():
    est = NoiseEstimator(2, "workers", smoothing=0.0)
    e = one_round(est, [np.array([3.0, 0.0]), np.array([1.0, 0.0])], batch=2)
    # trace = 2 * var([3, 1], ddof=1) = 4; ||gbar||^2 = 4, minus 4/(2*2) = 3
    assert (e.trace, e.grad_sq) == (4.0, 3.0)
    assert e.columns() == {"noise_var": 4.0, "grad_sq_est": 3.0, "noise_scale": 4.0 / 3.0}
    e = one_round(est, [np.array([1.0, 0.0]), np.array([-1.0, 0.0])], batch=2)
    assert e.grad_sq < 0 and math.isnan(e.noise_scale)  # noise swamps the gradient


# --------------------------------------------------------------------------- expectations


@pytest.fixture(scope="module")
def known_sigma():
    """A logistic problem at a fixed point whose per-sample gradients are enumerated: sampling
    rows i.i.d. uniformly draws gradients of exactly this mean and covariance."""
    ds = data(False, n=500, d=10, seed=2)
    problem = LogisticRegression(ds, ds.n_rows, lam=0.05)
    x = np.random.default_rng(7).normal(size=ds.n_features) * 0.3
    H = per_sample_data_grads(ds, x)
    grad = H.mean(axis=0) + 0.05 * x
    trace = float(((H - H.mean(axis=0)) ** 2).sum(axis=1).mean())  # population covariance
    return problem, x, float(grad @ grad), trace


@pytest.mark.parametrize("source", ["workers", "samples"])
def test_estimates_are_unbiased_on_a_known_sigma(known_sigma, source):
    """2000 independent rounds (N = 4, B = 8): the mean of each estimate is within 4 standard
    errors of the truth, and that standard error is below 3% of it (the test can fail)."""
    problem, x, grad_sq_true, trace_true = known_sigma
    n_workers, batch, rounds = 4, 8, 2000
    rng = np.random.default_rng(8)
    traces, grad_sqs = np.empty(rounds), np.empty(rounds)
    for r in range(rounds):
        est = NoiseEstimator(n_workers, source, smoothing=0.0)
        grads, locals_ = [], []
        for _ in range(n_workers):
            idx = np.sort(rng.integers(0, problem.n_local, batch))
            g = np.empty(problem.dim)
            problem.stochastic_grad(x, idx, g)
            grads.append(g)
            locals_.append(LocalStats(1, batch, g, x, idx, problem))
        e = one_round(est, grads, batch, locals_)
        traces[r], grad_sqs[r] = e.trace, e.grad_sq
    for values, truth in ((traces, trace_true), (grad_sqs, grad_sq_true)):
        se = values.std(ddof=1) / math.sqrt(rounds)
        assert se < 0.03 * truth
        assert abs(values.mean() - truth) < 4 * se, (values.mean(), truth, se)
