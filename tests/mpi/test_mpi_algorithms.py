"""CR-PSGD-Catalyst and Local SGD under ``mpiexec -n 4`` on the non-convex problems: the
returned point equals a serial NumPy recomputation of every worker's random stream, and the
log's rounds and SFO are those the algorithm prescribes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crpsgd.algorithms.catalyst import catalyst_plan
from crpsgd.algorithms.local_sgd import auto_period
from crpsgd.data.rng import worker_rng
from crpsgd.data.shard import shard_bounds
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.problems.nonconvex import init_rng
from crpsgd.runlog import read_run
from crpsgd.schedules.schedule import ExponentialBatch, batch_sequence
from tests import nonconvex_reference as R
from tests.conftest import run_mpi

pytestmark = pytest.mark.mpi

N = 4
SEED = 7
LAM, ALPHA, HIDDEN = 0.02, 1.5, 3


def shards(spec: str, n: int):
    sp = parse_synthetic_spec(spec)
    parts = [synthetic_rows(sp, *shard_bounds(sp.n, i, n)) for i in range(n)]
    return sp, [(p.to_dense(), p.y) for p in parts]


def problem_setup(kind: str, d: int):
    """The gradient of one minibatch and the initial point, in plain NumPy."""
    if kind == "mlp":
        rng = init_rng(SEED)  # W ~ N(0, 1/d), v ~ N(0, 1/h), biases 0
        x0 = np.zeros(d * HIDDEN + 2 * HIDDEN + 1)
        x0[: d * HIDDEN] = rng.standard_normal(d * HIDDEN) / math.sqrt(d)
        x0[d * HIDDEN + HIDDEN : d * HIDDEN + 2 * HIDDEN] = rng.standard_normal(HIDDEN) / math.sqrt(
            HIDDEN
        )
        return (lambda A, y, x, idx: R.mlp_grad(A, y, x, idx, HIDDEN, LAM)), x0
    return (lambda A, y, x, idx: R.nclogreg_grad(A, y, x, idx, LAM, ALPHA)), np.zeros(d)


def draw(rng, rows, batch):
    return np.sort(rng.integers(0, rows, size=batch, dtype=np.int64))


def serial_catalyst(parts, grad, x0, plan, b1, rho, theta, gamma):
    rngs = [worker_rng(SEED, i) for i in range(len(parts))]
    y = x0.copy()
    for _ in range(plan.outer):
        x = y.copy()
        for batch in batch_sequence(ExponentialBatch(b1, rho), plan.inner_budget):
            g = [
                grad(A, b, x, draw(r, len(b), batch)) + theta * (x - y)
                for (A, b), r in zip(parts, rngs, strict=True)
            ]
            x = x - gamma * np.mean(g, axis=0)
        y = x
    return y


def serial_local_sgd(parts, grad, x0, batch, period, budget, gamma):
    """Periodic *model* averaging, written the textbook way (the package averages the summed
    local gradients instead; the two agree in exact arithmetic)."""
    rngs = [worker_rng(SEED, i) for i in range(len(parts))]
    x = x0.copy()
    steps = budget // batch
    while steps > 0:
        h = min(period, steps)
        models = []
        for (A, b), r in zip(parts, rngs, strict=True):
            xi = x.copy()
            for _ in range(h):
                xi = xi - gamma * grad(A, b, xi, draw(r, len(b), batch))
            models.append(xi)
        x = np.mean(models, axis=0)
        steps -= h
    return x


def run(tmp_path, kind, spec, flags):
    out = tmp_path / "run.h5"
    # a flag of a problem not selected is an error: only the selected problem's own
    own = ["--alpha", str(ALPHA)] if kind == "logreg-nonconvex" else ["--hidden", str(HIDDEN)]
    proc = run_mpi(
        N,
        ["-m", "crpsgd", "run", "--problem", kind, "--data", spec, "--seed", str(SEED),
         "--lam", str(LAM), *own, "--out", str(out), "--quiet", *flags],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return read_run(out)


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("logreg-nonconvex", "synthetic:n=801,d=6,seed=3"),
        ("mlp", "synthetic:n=600,d=5,seed=4,density=0.5"),
    ],
)
def test_catalyst_matches_serial_recomputation(tmp_path, kind, spec):
    budget, b1, rho, theta, gamma = 900, 2, 1.5, 0.8, 0.3
    flags = ["--T", str(budget), "--b1", str(b1), "--rho", str(rho), "--theta", str(theta)]
    log = run(tmp_path, kind, spec, ["--algo", "cr-psgd-catalyst", "--gamma", str(gamma), *flags])
    plan = catalyst_plan(budget, N)  # K = 60 outer iterations of 15 SFO
    inner = batch_sequence(ExponentialBatch(b1, rho), plan.inner_budget)
    assert log.status == "completed" and log.attrs["n_workers"] == N
    assert log.summary["rounds"] == plan.outer * len(inner) == len(log.rounds["round"])
    assert log.summary["sfo_per_worker"] == plan.outer * sum(inner) <= budget
    # one Allreduce of one m-vector per round, plus the communicator's control slot and, on
    # N >= 2, the slot of this rank's ||g_i||^2 for the noise estimate (issue 9)
    per_round = log.summary["comm_bytes"] / log.summary["rounds"]
    assert per_round == 8 * (log.x.size + 2)
    np.testing.assert_array_equal(
        log.rounds["outer"], np.repeat(np.arange(1, plan.outer + 1), len(inner))
    )
    assert len(log.outer["outer"]) == plan.outer

    sp, parts = shards(spec, N)
    grad, x0 = problem_setup(kind, sp.d)
    expected = serial_catalyst(parts, grad, x0, plan, b1, rho, theta, gamma)
    np.testing.assert_allclose(log.x, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("kind", "spec", "flags", "period"),
    [
        ("logreg-nonconvex", "synthetic:n=802,d=6,seed=5,density=0.4",
         ["--period", "4", "--batch", "3"], 4),
        ("mlp", "synthetic:n=600,d=4,seed=6",
         ["--period", "auto", "--period-rule", "stich", "--batch", "2"], None),
    ],
)  # fmt: skip
def test_local_sgd_matches_serial_recomputation(tmp_path, kind, spec, flags, period):
    budget, gamma = 400, 0.2
    log = run(
        tmp_path,
        kind,
        spec,
        ["--algo", "local-sgd", "--T", str(budget), "--gamma", str(gamma), *flags],
    )
    batch = int(flags[flags.index("--batch") + 1])
    period = period or auto_period("stich", budget, batch, N)
    assert log.attrs["period"] == period
    steps = budget // batch
    assert log.summary["rounds"] == math.ceil(steps / period) == len(log.rounds["round"])
    assert log.summary["sfo_per_worker"] == steps * batch
    assert log.rounds["local_steps"].sum() == steps and np.all(log.rounds["batch"] == batch)

    sp, parts = shards(spec, N)
    grad, x0 = problem_setup(kind, sp.d)
    expected = serial_local_sgd(parts, grad, x0, batch, period, budget, gamma)
    np.testing.assert_allclose(log.x, expected, rtol=1e-10, atol=1e-12)
