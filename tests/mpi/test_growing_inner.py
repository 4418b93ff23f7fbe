"""A growing inner batch (``--schedule``) for Local SGD, post-local SGD and DiLoCo under
``mpiexec -n 4``: inner step ``t`` (counted across rounds) draws ``floor(rho^(t-1) B_1)``
samples, the log's rows and SFO say so, the budget holds, the returned point equals a serial
NumPy recomputation of every worker's stream, and a bad combination is one message, exit 2.
With ``--schedule adaptive`` Local SGD's rounds carry the norm test's statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crpsgd.analysis.projection import compute_seconds
from crpsgd.analysis.projection_profile import profile_from_record
from crpsgd.data.rng import worker_rng
from tests.conftest import run_mpi
from tests.mpi.test_diloco import inner_sgd
from tests.mpi.test_mpi_algorithms import SEED, N, draw, problem_setup, run, shards

pytestmark = pytest.mark.mpi

SPEC = "synthetic:n=802,d=6,seed=5,density=0.4"
B1, RHO, BUDGET, PERIOD, GAMMA = 2, 1.15, 400, 3, 0.2


def exponential(t: int) -> int:
    return math.floor(RHO ** (t - 1) * B1)


def planned_rounds(period, budget, switch_at=0):
    """Each round's inner batches by Algorithm 1's rule applied step by step."""
    rounds, t, used = [], 1, 0
    while True:
        h = 1 if used < switch_at else period
        batches = []
        for k in range(h):
            b = exponential(t + k)
            if used + sum(batches) + b > budget:
                break
            batches.append(b)
        if not batches:
            return rounds
        rounds.append(batches)
        t, used = t + len(batches), used + sum(batches)


def serial(parts, grad, x0, rounds, inner, lr, mu):
    """DiLoCo with the given inner batches of each round (``lr = 1, mu = 0`` and plain inner
    SGD: Local SGD's model average)."""
    rngs = [worker_rng(SEED, i) for i in range(len(parts))]
    states = [{} for _ in parts]
    x, u = x0.copy(), np.zeros_like(x0)
    for batches in rounds:
        deltas = []
        for (A, b), r, state in zip(parts, rngs, states, strict=True):
            xi = x.copy()
            for batch in batches:
                xi = inner(xi, grad(A, b, xi, draw(r, len(b), batch)), GAMMA, state)
            deltas.append(x - xi)
        delta = np.mean(deltas, axis=0)
        u = mu * u + delta
        x = x - lr * (delta + mu * u)
    return x


GROWING = ["--schedule", "exponential", "--b1", str(B1), "--rho", str(RHO)]
CASES = {
    "local-sgd": ([], inner_sgd(0.0), 1.0, 0.0, 0),
    "post-local-sgd": (["--switch-at", "30"], inner_sgd(0.0), 1.0, 0.0, 30),
    "diloco": (["--momentum", "0.5"], inner_sgd(0.5), 0.7, 0.9, 0),
}


@pytest.mark.parametrize("algo", list(CASES))
def test_inner_batch_follows_the_schedule(tmp_path, algo):
    extra, inner, lr, mu, switch = CASES[algo]
    flags = ["--algo", algo, "--T", str(BUDGET), "--period", str(PERIOD), "--gamma", str(GAMMA)]
    log = run(tmp_path, "logreg-nonconvex", SPEC, [*flags, *GROWING, *extra])
    rounds = planned_rounds(PERIOD, BUDGET, switch)
    assert len(rounds) > 3 and any(len(set(r)) > 1 for r in rounds)  # the batch grows in a round
    # the rows: first inner batch, inner steps, SFO grown by the round's batches
    first_steps = np.cumsum([0] + [len(r) for r in rounds[:-1]]) + 1
    np.testing.assert_array_equal(log.rounds["batch"], [exponential(t) for t in first_steps])
    np.testing.assert_array_equal(log.rounds["local_steps"], [len(r) for r in rounds])
    np.testing.assert_array_equal(log.rounds["sfo_per_worker"], np.cumsum([sum(r) for r in rounds]))
    # the budget: spent up to the first inner batch that no longer fits
    steps = sum(len(r) for r in rounds)
    spent = log.summary["sfo_per_worker"]
    assert spent == sum(exponential(t) for t in range(1, steps + 1)) <= BUDGET
    assert spent + exponential(steps + 1) > BUDGET
    assert log.summary["sfo_total"] == N * spent
    assert log.summary["rounds"] == len(rounds)
    # crpsgd project counts the rounds' samples as logged, not B_t H_t
    profile = profile_from_record(log)
    np.testing.assert_array_equal(profile.samples, [sum(r) for r in rounds])
    projected = compute_seconds(profile, N)
    assert projected == pytest.approx(
        len(rounds) * profile.fixed_s + profile.seconds_per_sample * spent
    )

    sp, parts = shards(SPEC, N)
    grad, x0 = problem_setup("logreg-nonconvex", sp.d)
    expected = serial(parts, grad, x0, rounds, inner, lr, mu)
    np.testing.assert_allclose(log.x, expected, rtol=1e-10, atol=1e-12)


def test_period_one_is_cr_psgd_bit_for_bit(tmp_path):
    """One inner step a round: Local SGD with the exponential schedule is CR-PSGD."""
    common = ["--T", str(BUDGET), "--gamma", str(GAMMA), "--b1", str(B1), "--rho", str(RHO)]
    local = run(
        tmp_path, "logreg-nonconvex", SPEC, ["--algo", "local-sgd", "--period", "1",
                                             "--schedule", "exponential", *common]
    )  # fmt: skip
    (tmp_path / "run.h5").unlink()
    cr = run(tmp_path, "logreg-nonconvex", SPEC, ["--algo", "cr-psgd", *common])
    assert np.array_equal(local.x, cr.x)
    np.testing.assert_array_equal(local.rounds["batch"], cr.rounds["batch"])
    np.testing.assert_array_equal(local.rounds["sfo_per_worker"], cr.rounds["sfo_per_worker"])


def test_adaptive_local_sgd_observes_its_inner_steps(tmp_path):
    """``--schedule adaptive``: round r's h steps all draw B_r; the logged tr(Sigma) is the
    cross-worker estimate over the round's N h step gradients; B_(r+1) is the norm test's."""
    period, budget = 3, 600
    flags = ["--algo", "local-sgd", "--schedule", "adaptive", "--b1", "2", "--period"]
    flags += [str(period), "--T", str(budget), "--gamma", str(GAMMA)]
    log = run(tmp_path, "logreg-nonconvex", SPEC, flags)
    batches, steps = log.rounds["batch"], log.rounds["local_steps"]
    assert batches[-1] > batches[0]  # it grew
    used = 0
    for b, h in zip(batches, steps, strict=True):
        assert h == min(period, (budget - used) // b)
        used += b * h
    assert budget - used < batches[-1] and log.summary["sfo_per_worker"] == used
    # the norm test with the smoothed estimates, eta = 1, max growth 2
    for r in range(len(batches) - 1):
        b, scale = int(batches[r]), float(log.rounds["noise_scale"][r])
        want = b if not scale > 0 else min(max(b, math.ceil(scale / N)), 2 * b)
        assert batches[r + 1] == want
    assert not log.rounds["budget_fill"].any()

    sp, parts = shards(SPEC, N)
    grad, x0 = problem_setup("logreg-nonconvex", sp.d)
    rngs = [worker_rng(SEED, i) for i in range(N)]
    x = x0.copy()
    for r, (b, h) in enumerate(zip(batches, steps, strict=True)):
        models, grads = [], []
        for (A, y), rng in zip(parts, rngs, strict=True):
            xi = x.copy()
            for _ in range(h):
                g = grad(A, y, xi, draw(rng, len(y), b))
                grads.append(g)
                xi = xi - GAMMA * g
            models.append(xi)
        n = N * h
        slot = np.mean([g @ g for g in grads])
        gbar = np.mean(grads, axis=0)
        trace = b * n / (n - 1) * (slot - gbar @ gbar)
        assert log.rounds["noise_var"][r] == pytest.approx(trace, rel=1e-8)
        x = np.mean(models, axis=0)
    np.testing.assert_allclose(log.x, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--algo", "diloco", "--schedule", "adaptive"],
            "--schedule=adaptive: --algo diloco grows its inner batch only by a schedule of "
            "the step alone",
        ),
        (
            ["--algo", "post-local-sgd", "--schedule", "adaptive"],
            "--schedule=adaptive: --algo post-local-sgd grows",
        ),
        (
            ["--algo", "local-sgd", "--schedule", "adaptive", "--adaptive-test", "inner-product"],
            "--adaptive-test=inner-product: --algo local-sgd takes --schedule adaptive with the "
            "norm test only",
        ),
        (["--algo", "local-sgd", *GROWING[:4], "--rho", "0.9"], "--rho='0.9': must be > 1"),
        (["--algo", "diloco", *GROWING, "--T", "1"], "--b1"),
        (
            ["--algo", "local-sgd", *GROWING, "--lr-scaling", "linear"],
            "--lr-scaling=linear: the step follows",
        ),
    ],
)
def test_bad_combination_is_one_message_and_exit_2(tmp_path, args, message):
    out = tmp_path / "o.h5"
    proc = run_mpi(4, ["-m", "crpsgd", "run", "--data", SPEC, "--out", str(out), *args], timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("crpsgd: error:") == 1, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
