"""DiLoCo and post-local SGD under ``mpiexec -n 4``: the returned point equals a serial NumPy
recomputation of every worker's random stream (inner SGD with momentum, inner AdamW, the
outer Nesterov step; PSGD rounds, then Local SGD rounds), with the rounds and SFO the
algorithm prescribes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crpsgd.data.rng import worker_rng
from tests.conftest import run_mpi
from tests.mpi.test_mpi_algorithms import SEED, N, draw, problem_setup, run, shards

pytestmark = pytest.mark.mpi

SPEC = "synthetic:n=802,d=6,seed=5,density=0.4"


def inner_sgd(momentum):
    def step(x, g, gamma, state):
        if momentum:
            state["v"] = momentum * state.get("v", 0.0) + g
            g = state["v"]
        return x - gamma * g

    return step


def inner_adamw(x, g, gamma, state, b1=0.9, b2=0.999, eps=1e-8):
    t = state["t"] = state.get("t", 0) + 1
    state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
    state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
    m_hat, v_hat = state["m"] / (1 - b1**t), state["v"] / (1 - b2**t)
    return x - gamma * m_hat / (np.sqrt(v_hat) + eps)


def serial_diloco(parts, grad, x0, batch, period, budget, gamma, inner, lr, mu):
    rngs = [worker_rng(SEED, i) for i in range(len(parts))]
    states = [{} for _ in parts]
    x, u = x0.copy(), np.zeros_like(x0)
    steps = budget // batch
    while steps > 0:
        h = min(period, steps)
        deltas = []
        for (A, b), r, state in zip(parts, rngs, states, strict=True):
            xi = x.copy()
            for _ in range(h):
                xi = inner(xi, grad(A, b, xi, draw(r, len(b), batch)), gamma, state)
            deltas.append(x - xi)
        delta = np.mean(deltas, axis=0)
        u = mu * u + delta
        x = x - lr * (delta + mu * u)
        steps -= h
    return x


@pytest.mark.parametrize(
    ("inner_flags", "inner", "gamma"),
    [
        (["--inner-optimizer", "sgd", "--momentum", "0.5"], inner_sgd(0.5), 0.2),
        (["--inner-optimizer", "adamw"], inner_adamw, 0.02),
    ],
)
def test_diloco_matches_serial_recomputation(tmp_path, inner_flags, inner, gamma):
    budget, batch, period, lr, mu = 400, 3, 4, 0.7, 0.9
    flags = ["--algo", "diloco", "--T", str(budget), "--batch", str(batch)]
    flags += ["--period", str(period), "--gamma", str(gamma), *inner_flags]
    log = run(tmp_path, "logreg-nonconvex", SPEC, flags)
    steps = budget // batch
    assert log.summary["rounds"] == math.ceil(steps / period) == len(log.rounds["round"])
    assert log.summary["sfo_per_worker"] == steps * batch
    assert log.rounds["local_steps"].sum() == steps
    # one Allreduce of one m-vector per round, plus the communicator's control slot
    assert log.summary["comm_bytes"] / log.summary["rounds"] == 8 * (log.x.size + 1)

    sp, parts = shards(SPEC, N)
    grad, x0 = problem_setup("logreg-nonconvex", sp.d)
    expected = serial_diloco(parts, grad, x0, batch, period, budget, gamma, inner, lr, mu)
    np.testing.assert_allclose(log.x, expected, rtol=1e-10, atol=1e-12)


def test_post_local_sgd_is_psgd_then_local_sgd(tmp_path):
    budget, batch, period, switch, gamma = 400, 3, 4, 60, 0.2
    flags = ["--algo", "post-local-sgd", "--T", str(budget), "--batch", str(batch)]
    flags += ["--period", str(period), "--switch-at", str(switch), "--gamma", str(gamma)]
    log = run(tmp_path, "logreg-nonconvex", SPEC, flags)
    steps, warm = budget // batch, switch // batch
    assert list(log.rounds["local_steps"][:warm]) == [1] * warm
    assert log.summary["rounds"] == warm + math.ceil((steps - warm) / period)
    assert log.rounds["local_steps"].sum() == steps

    sp, parts = shards(SPEC, N)
    grad, x0 = problem_setup("logreg-nonconvex", sp.d)
    # plain local SGD is DiLoCo with eta = 1, mu = 0 and plain inner steps, period by period
    rngs = [worker_rng(SEED, i) for i in range(N)]
    x, left = x0.copy(), steps
    while left > 0:
        h = 1 if (steps - left) * batch < switch else min(period, left)
        models = []
        for (A, b), r in zip(parts, rngs, strict=True):
            xi = x.copy()
            for _ in range(h):
                xi = xi - gamma * grad(A, b, xi, draw(r, len(b), batch))
            models.append(xi)
        x, left = np.mean(models, axis=0), left - h
    np.testing.assert_allclose(log.x, x, rtol=1e-10, atol=1e-12)


def test_diloco_with_one_step_no_outer_momentum_and_outer_lr_one_is_psgd(tmp_path):
    """H = 1, eta = 1, mu = 0 and plain inner SGD: x - mean_i(x - (x - gamma g_i)) is PSGD's
    x - gamma mean_i g_i, up to the order of the products (1e-12 relative); the same rounds,
    batches and SFO, from the same streams."""
    common = ["--T", "300", "--batch", "3", "--gamma", "0.2"]
    psgd = run(tmp_path, "logreg-nonconvex", SPEC, ["--algo", "psgd", *common])
    (tmp_path / "run.h5").unlink()
    outer = ["--outer-lr", "1", "--outer-momentum", "0", "--momentum", "0"]
    diloco = run(
        tmp_path, "logreg-nonconvex", SPEC, ["--algo", "diloco", "--period", "1", *outer, *common]
    )
    assert diloco.summary["rounds"] == psgd.summary["rounds"] == 100
    np.testing.assert_array_equal(diloco.rounds["batch"], psgd.rounds["batch"])
    np.testing.assert_array_equal(diloco.rounds["sfo_per_worker"], psgd.rounds["sfo_per_worker"])
    np.testing.assert_allclose(diloco.x, psgd.x, rtol=1e-12, atol=0)
    assert not np.array_equal(diloco.x, run_x0(SPEC))


def run_x0(spec):
    sp, _ = shards(spec, N)
    return problem_setup("logreg-nonconvex", sp.d)[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algo", "diloco", "--outer-lr", "0"], "--outer-lr"),
        (["--algo", "diloco", "--outer-momentum", "1"], "--outer-momentum"),
        (["--algo", "diloco", "--inner-optimizer", "lion"], "--inner-optimizer"),
        (["--algo", "diloco", "--period", "0"], "--period"),
        (["--algo", "post-local-sgd", "--switch-at", "-5"], "--switch-at"),
        (["--algo", "local-sgd", "--local-optimizer", "lion"], "--local-optimizer"),
        (
            ["--algo", "local-sgd", "--local-optimizer", "adamw", "--schedule", "adaptive"],
            "--schedule=adaptive: --local-optimizer=adamw grows its inner batch only by",
        ),
    ],
)
def test_bad_parameters_of_the_local_step_methods_are_one_message_and_exit_2(
    tmp_path, args, message
):
    out = tmp_path / "o.h5"
    cmd = ["-m", "crpsgd", "run", "--data", SPEC, "--T", "60", "--out", str(out), *args]
    proc = run_mpi(4, cmd, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("crpsgd: error:") == 1, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
