"""``--local-optimizer`` for Local SGD and post-local SGD (Lin et al. 2020; PyTorch's
``PostLocalSGDOptimizer``): every local step is the worker's own optimizer, its state kept on
the worker, and the models are averaged. Against a serial NumPy recomputation of every
worker's stream on logistic regression (AdamW), and on the torch problem (SGD with momentum)
against DiLoCo with outer learning rate 1 and no outer momentum, resumed bit for bit."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from crpsgd.analysis.labels import label
from crpsgd.data.rng import worker_rng
from crpsgd.runlog import read_run
from tests.conftest import ROOT, run_mpi
from tests.mpi.test_diloco import inner_adamw
from tests.mpi.test_mpi_algorithms import SEED, N, draw, problem_setup, run, shards

pytestmark = pytest.mark.mpi

SPEC = "synthetic:n=802,d=6,seed=5,density=0.4"
BUDGET, BATCH, PERIOD, GAMMA = 400, 3, 4, 0.02


def serial_local(parts, grad, x0, switch, inner):
    """Local SGD with each worker's own optimizer: period 1 while fewer than ``switch`` SFO
    per worker are spent, ``PERIOD`` after; the models averaged after every period."""
    rngs = [worker_rng(SEED, i) for i in range(len(parts))]
    states = [{} for _ in parts]
    x, steps = x0.copy(), BUDGET // BATCH
    left = steps
    while left > 0:
        h = 1 if (steps - left) * BATCH < switch else min(PERIOD, left)
        models = []
        for (A, b), r, state in zip(parts, rngs, states, strict=True):
            xi = x.copy()
            for _ in range(h):
                xi = inner(xi, grad(A, b, xi, draw(r, len(b), BATCH)), GAMMA, state)
            models.append(xi)
        x, left = np.mean(models, axis=0), left - h
    return x


@pytest.mark.parametrize(("algo", "switch"), [("local-sgd", 0), ("post-local-sgd", 60)])
def test_each_worker_steps_with_its_own_optimizer(tmp_path, algo, switch):
    flags = ["--algo", algo, "--T", str(BUDGET), "--batch", str(BATCH), "--period", str(PERIOD)]
    flags += ["--gamma", str(GAMMA), "--local-optimizer", "adamw"]
    if switch:
        flags += ["--switch-at", str(switch)]
    log = run(tmp_path, "logreg-nonconvex", SPEC, flags)
    steps, warm = BUDGET // BATCH, switch // BATCH
    assert log.summary["rounds"] == warm + math.ceil((steps - warm) / PERIOD)
    assert log.rounds["local_steps"].sum() == steps
    assert label(log) == f"{algo}(b={BATCH},H={PERIOD},local=adamw" + (
        ",switch=60)" if switch else ")"
    )
    sp, parts = shards(SPEC, N)
    grad, x0 = problem_setup("logreg-nonconvex", sp.d)
    expected = serial_local(parts, grad, x0, switch, inner_adamw)
    np.testing.assert_allclose(log.x, expected, rtol=1e-10, atol=1e-12)


def test_torch_local_momentum_is_diloco_with_a_plain_average_and_resumes(tmp_path):
    """On the torch problem ``--local-optimizer sgd`` keeps a momentum buffer per worker: the
    run is DiLoCo with outer lr 1 and outer momentum 0, bit for bit, not plain Local SGD (whose
    momentum acts on the averaged step); stopped and resumed, it ends at the same point."""
    pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")
    from tests.cifar_files import write_random_cifar

    write_random_cifar(tmp_path / "cifar", rows=(6, 6, 6, 6, 6), test_rows=8)
    env = {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    common = [
        "-m",
        "crpsgd",
        "run",
        "--problem",
        "torch",
        "--model",
        "tests.torch_models:small_cnn",
    ]
    common += ["--data", f"cifar10:{tmp_path / 'cifar'}", "--quiet", "--eval-rows", "12"]
    common += ["--T", "48", "--batch", "2", "--period", "3", "--gamma", "0.05"]
    common += ["--momentum", "0.9", "--weight-decay", "1e-3"]
    runs = {
        "local": ["--algo", "post-local-sgd", "--switch-at", "8", "--local-optimizer", "sgd"],
        "stopped": ["--algo", "post-local-sgd", "--switch-at", "8", "--local-optimizer", "sgd"],
        "plain": ["--algo", "post-local-sgd", "--switch-at", "8"],
        "diloco": ["--algo", "diloco", "--outer-lr", "1", "--outer-momentum", "0"],
        "diloco-local": ["--algo", "local-sgd", "--local-optimizer", "sgd"],
    }
    logs = {}
    for name, flags in runs.items():
        out = tmp_path / f"{name}.h5"
        stop = {"CRPSGD_TEST_STOP_AT": "1:round:5"} if name == "stopped" else {}
        proc = run_mpi(2, [*common, *flags, "--out", str(out)], timeout=300, env={**env, **stop})
        assert proc.returncode == (75 if stop else 0), proc.stderr
        if stop:
            ckpt = str(tmp_path / f"{name}.ckpt.h5")
            proc = run_mpi(2, ["-m", "crpsgd", "run", "--resume", ckpt], timeout=300, env=env)
            assert proc.returncode == 0, proc.stderr
        logs[name] = read_run(out)
    np.testing.assert_array_equal(logs["diloco"].x, logs["diloco-local"].x)
    np.testing.assert_array_equal(logs["local"].x, logs["stopped"].x)
    assert list(logs["local"].rounds["local_steps"][:4]) == [1, 1, 1, 1]
    assert not np.allclose(logs["local"].x, logs["plain"].x)
