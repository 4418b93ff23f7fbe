"""The within-worker noise estimate of the torch problems from micro-batch chunks
(:mod:`crpsgd.torchprob.chunks`): against per-chunk gradients computed separately, its
expectation on least squares with a known ``Sigma``, its wiring into the noise estimator, and
a one-rank ``crpsgd run --problem torch --schedule adaptive`` with bit-for-bit resume."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")
from torch import nn  # noqa: E402

from crpsgd.data.images import ImageShard, cifar10_shards  # noqa: E402
from crpsgd.problems.proximal import ProximalProblem  # noqa: E402
from crpsgd.runlog import read_run  # noqa: E402
from crpsgd.schedules.adaptive import AdaptiveBatch  # noqa: E402
from crpsgd.schedules.noise import NoiseEstimator, supports_samples  # noqa: E402
from crpsgd.schedules.observed import with_noise_estimate  # noqa: E402
from crpsgd.schedules.schedule import LocalStats, RoundStats  # noqa: E402
from crpsgd.torchprob.chunks import chunk_count, order_within_chunks  # noqa: E402
from crpsgd.torchprob.problem import TorchProblem  # noqa: E402
from tests import torch_models  # noqa: E402
from tests.cifar_files import write_random_cifar  # noqa: E402
from tests.conftest import ROOT, run_cli, run_mpi  # noqa: E402

ENV = {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


class HalfSquaredError(nn.Module):
    """``F(w; j) = (a_j^T w - y_j)^2 / 2``: per-sample gradient ``(a_j^T w - y_j) a_j``."""

    def forward(self, out, y):
        return 0.5 * ((out[:, 0] - y.to(out.dtype)) ** 2).mean()


def _problem(build, shard, micro_batch, **kw):
    torch.manual_seed(0)
    return TorchProblem(
        build(), shard, rank=0, size=1, seed=3, micro_batch=micro_batch, augment=False, **kw
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    path = tmp_path_factory.mktemp("cifar")
    write_random_cifar(path, rows=(6, 6, 6, 6, 6), test_rows=4)
    return cifar10_shards(f"cifar10:{path}", 0, 1)[0]


@pytest.fixture(scope="module")
def ordered_rows():
    """40 tabular rows stored sorted by class, whose features depend on the class."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20).astype(np.int64)
    x = (rng.normal(size=(40, 3)) + 2.0 * labels[:, None]).astype(np.float32)
    return ImageShard(x, labels, 40, 2, "ordered")


def test_chunk_counts_and_the_order_within_chunks():
    assert [chunk_count(b, 4) for b in (1, 2, 4, 5, 9)] == [1, 1, 1, 2, 3]
    assert [chunk_count(b, 4, at_least_two=True) for b in (1, 2, 4, 5, 9)] == [1, 2, 2, 2, 3]
    draws = np.random.default_rng(1).integers(0, 50, size=11)
    idx = order_within_chunks(draws.copy(), 3)
    for got, want in zip(np.array_split(idx, 3), np.array_split(draws, 3), strict=True):
        np.testing.assert_array_equal(got, np.sort(want))  # the same draws, sorted per chunk


@pytest.mark.parametrize(
    ("batch", "micro_batch", "sizes"),
    [(8, 4, [4, 4]), (8, 8, [4, 4]), (7, 3, [3, 2, 2]), (5, 10, [3, 2]), (9, 2, [2] * 4 + [1])],
)
def test_the_chunk_estimate_against_separately_computed_chunk_gradients(
    images, batch, micro_batch, sizes
):
    """A model without BatchNorm: each chunk's mean gradient from its own stochastic_grad
    call; the reference (1/(k-1)) sum_c m_c ||g_c - g||^2 in float64."""
    p = _problem(torch_models.cnn_without_norm, images, micro_batch)
    p.enable_chunk_variance()
    idx = p.sample_batch(np.random.default_rng(batch), batch)
    chunks = np.array_split(idx, chunk_count(batch, micro_batch, at_least_two=True))
    assert [c.size for c in chunks] == sizes
    plain = _problem(torch_models.cnn_without_norm, images, micro_batch)
    g_c = []
    for c in chunks:
        plain.stochastic_grad(plain.x, c, plain.grad)
        g_c.append(plain.grad.astype(np.float64))
    m = np.array(sizes, dtype=np.float64)
    g = (m[:, None] * np.array(g_c)).sum(axis=0) / batch
    want = (m * ((np.array(g_c) - g) ** 2).sum(axis=1)).sum() / (len(sizes) - 1)
    p.stochastic_grad(p.x, idx, p.grad)
    np.testing.assert_allclose(p.grad, g, rtol=1e-5, atol=1e-7)  # still the batch mean
    assert p.chunk_trace_of(batch) == pytest.approx(want, rel=1e-4)
    assert want > 0


@pytest.mark.parametrize(("batch", "micro_batch"), [(6, 4), (7, 3), (5, 8)])
def test_the_chunk_estimate_is_unbiased_on_least_squares(ordered_rows, batch, micro_batch):
    """Draws i.i.d. from the 40 rows: ``Sigma`` is the population covariance of the 40
    per-sample gradients. Over 2000 seeds the mean estimate is within 4 standard errors of
    ``tr(Sigma)`` (and the standard error below 5% of it). The rows are stored by class: had
    the chunks been cut from the batch sorted as a whole, they would separate the classes and
    the estimate would be far too large (checked too)."""
    linear = lambda: nn.Linear(3, 1, bias=False)  # noqa: E731
    p = _problem(linear, ordered_rows, micro_batch, loss=HalfSquaredError())
    p.enable_chunk_variance()
    a, y = ordered_rows.x.astype(np.float64), ordered_rows.labels
    h = (a @ p.x.astype(np.float64) - y)[:, None] * a  # per-sample gradients
    truth = (h**2).sum(axis=1).mean() - (h.mean(axis=0) ** 2).sum()
    est, globally_sorted = [], []
    for seed in range(2000):
        idx = p.sample_batch(np.random.default_rng([batch, seed]), batch)
        p.stochastic_grad(p.x, idx, p.grad)
        est.append(p.chunk_trace_of(batch))
        if seed < 400:
            p.stochastic_grad(p.x, np.sort(idx), p.grad)
            globally_sorted.append(p.chunk_trace_of(batch))
    est = np.array(est)
    se = est.std(ddof=1) / np.sqrt(est.size)
    assert se < 0.05 * truth
    assert abs(est.mean() - truth) < 4 * se, (est.mean(), truth, se)
    assert np.mean(globally_sorted) > 1.4 * truth


def test_the_estimator_switches_a_torch_problem_to_chunks(images):
    """``samples`` (explicit, or auto on one rank) turns the chunk estimate on, also through
    Catalyst's proximal wrapper; the estimate across workers leaves the problem as it was."""
    p = _problem(torch_models.small_cnn, images, 16)
    assert supports_samples(p) and supports_samples(ProximalProblem(p, 1.0, np.zeros(p.dim)))
    with_noise_estimate(4, 2, p)
    NoiseEstimator(2, "workers", problem=p)
    assert p._chunk_variance is None  # existing runs are untouched
    est = NoiseEstimator(1, "auto", problem=ProximalProblem(p, 1.0, np.zeros(p.dim)))
    assert est.source == "samples" and p._chunk_variance is not None
    AdaptiveBatch(4, 1, problem=p)  # was refused before: one rank, no within-worker estimate
    idx = p.sample_batch(np.random.default_rng(0), 6)
    p.stochastic_grad(p.x, idx, p.grad)
    view = np.zeros(1, dtype=np.float32)
    est.fill(view, LocalStats(1, 6, p.grad, p.x, idx, p))
    assert view[0] == np.float32(p.chunk_trace_of(6)) and view[0] > 0
    e = est.update(RoundStats(1, 6, p.grad, view, 1))
    assert e.trace == float(view[0])
    assert e.grad_sq == pytest.approx(float(p.grad @ p.grad) - e.trace / 6, rel=1e-6)
    with pytest.raises(ValueError, match="took 6 rows, not this round's 7"):
        p.chunk_trace_of(7)
    plain = _problem(torch_models.small_cnn, images, 16)
    plain.stochastic_grad(plain.x, idx, plain.grad)
    with pytest.raises(ValueError, match="enable_chunk_variance"):
        plain.chunk_trace_of(6)


def test_a_batch_of_one_has_no_estimate_and_a_zero_slot(images):
    p = _problem(torch_models.small_cnn, images, 16)
    est = NoiseEstimator(1, "samples", problem=p)
    idx = p.sample_batch(np.random.default_rng(0), 1)
    p.stochastic_grad(p.x, idx, p.grad)
    view = np.full(1, 7.0, dtype=np.float32)
    est.fill(view, LocalStats(1, 1, p.grad, p.x, idx, p))
    assert view[0] == 0.0 and np.isnan(p.chunk_trace_of(1))


# ---------------------------------------------------------------- crpsgd run, one rank
@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "d"
    made = run_cli(["digits-cifar10", str(path), "--n-test", "100"])
    assert made.returncode == 0, made.stderr
    return f"cifar10:{path}"


ADAPTIVE = ["--algo", "cr-psgd", "--schedule", "adaptive", "--b1", "2", "--eta", "0.5",
            "--T", "600", "--gamma", "0.05", "--micro-batch", "8", "--momentum", "0.9",
            "--eval-rows", "50"]  # fmt: skip


def _run(data, out, *extra, env=None, n=1):
    args = ["-m", "crpsgd", "run", "--problem", "torch", "--model",
            "tests.torch_models:small_cnn", "--data", data, "--out", str(out), "--quiet",
            *ADAPTIVE, *extra]  # fmt: skip
    return run_mpi(n, args, timeout=300, env={**ENV, **(env or {})})


@pytest.mark.mpi
def test_one_rank_adaptive_torch_run_grows_within_bounds_and_resumes(tmp_path, digits):
    """--schedule adaptive on one rank (auto: the chunk estimate); resume is bit for bit."""
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    done = _run(digits, full)
    assert done.returncode == 0, done.stderr
    run = read_run(full)
    b, grown = run.rounds["batch"], run.rounds["batch"][run.rounds["budget_fill"] == 0]
    assert b[0] == 2 and b[-1] > 2 * b[0]  # it grew on its own
    assert np.all(b[1:] >= b[:-1]) and np.all(grown[1:] <= np.floor(2.0 * grown[:-1]))
    assert run.rounds["sfo_per_worker"][-1] == b.sum() == 600  # the last round took the rest
    assert np.all(np.isfinite(run.rounds["noise_var"])) and np.all(run.rounds["noise_var"] > 0)
    assert np.isfinite(run.rounds["noise_scale"][-1])
    stopped = _run(digits, part, env={"CRPSGD_TEST_STOP_AT": "0:round:6"})
    assert stopped.returncode == 75, stopped.stderr
    resumed = run_mpi(
        1, ["-m", "crpsgd", "run", "--resume", str(tmp_path / "part.ckpt.h5"), "--quiet"],
        timeout=300, env=ENV,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    a, c = read_run(full), read_run(part)
    assert c.summary["rounds"] == a.summary["rounds"] > 6
    np.testing.assert_array_equal(a.x, c.x)
    for name in ("batch", "sfo_per_worker", "noise_var", "grad_sq_est", "noise_scale"):
        np.testing.assert_array_equal(a.rounds[name], c.rounds[name])
    np.testing.assert_array_equal(a.eval["objective"], c.eval["objective"])


@pytest.mark.mpi
def test_two_ranks_with_noise_source_samples(tmp_path, digits):
    out = tmp_path / "s.h5"
    proc = _run(digits, out, "--noise-source", "samples", "--T", "300", n=2)
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    assert np.all(np.isfinite(run.rounds["noise_var"])) and np.all(run.rounds["noise_var"] > 0)
    b = run.rounds["batch"]
    assert np.all(b[1:] >= b[:-1]) and run.rounds["sfo_per_worker"][-1] == b.sum() <= 300
