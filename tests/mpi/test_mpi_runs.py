"""Whole runs under mpiexec: logs, batch sequences, SFO and rounds, and iterates equal to a
serial recomputation of every worker's random stream."""

import numpy as np
import pytest

from crpsgd.data.rng import worker_rng
from crpsgd.data.shard import shard_bounds
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.runlog import EVAL_COLUMNS, ROUND_COLUMNS, read_run
from crpsgd.schedules.schedule import ConstantBatch, ExponentialBatch, batch_sequence
from tests.conftest import run_mpi

pytestmark = pytest.mark.mpi


def serial_parallel_sgd(spec, n_workers, seed, lam, gamma, schedule, budget, scale=None):
    """Parallel SGD recomputed in one process with plain NumPy, from the same streams; with
    ``scale``, round ``t`` steps with ``gamma * scale(B_t)`` (``--lr-scaling``)."""
    sp = parse_synthetic_spec(spec)
    shards = [synthetic_rows(sp, *shard_bounds(sp.n, i, n_workers)) for i in range(n_workers)]
    rngs = [worker_rng(seed, i) for i in range(n_workers)]
    x = np.zeros(sp.d)
    for batch in batch_sequence(schedule, budget):
        total = np.zeros(sp.d)
        for shard, rng in zip(shards, rngs, strict=True):
            idx = np.sort(rng.integers(0, shard.n_rows, size=batch, dtype=np.int64))
            A, b = shard.to_dense()[idx], shard.y[idx]
            coef = -b / (1.0 + np.exp(b * (A @ x)))
            total += A.T @ coef / batch + lam * x
        step = gamma if scale is None else gamma * scale(batch)
        x = x - step * (total / n_workers)
    return x


def test_mpi_run_with_linear_lr_scaling_matches_serial_recomputation(tmp_path):
    """``--lr-scaling linear``: round t steps with gamma B_t/B_1, on every rank alike."""
    out, spec, schedule = (
        tmp_path / "run.h5",
        "synthetic:n=1500,d=9,seed=6",
        ExponentialBatch(3, 1.4),
    )
    budget, seed, lam, gamma = 900, 5, 1e-3, 0.2
    flags = ["--algo", "cr-psgd", "--b1", "3", "--rho", "1.4", "--lr-scaling", "linear"]
    common = ["--T", str(budget), "--seed", str(seed), "--lam", str(lam), "--gamma", str(gamma)]
    proc = run_mpi(
        2, ["-m", "crpsgd", "run", "--data", spec, *flags, *common, "--out", str(out), "--quiet"]
    )
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    batches = np.array(batch_sequence(schedule, budget))
    np.testing.assert_array_equal(run.rounds["batch"], batches)
    np.testing.assert_array_equal(run.rounds["lr_scale"], batches / 3)
    np.testing.assert_array_equal(run.rounds["step_size"], gamma * (batches / 3))
    expected = serial_parallel_sgd(spec, 2, seed, lam, gamma, schedule, budget, lambda b: b / 3)
    np.testing.assert_allclose(run.x, expected, rtol=1e-11, atol=1e-14)
    unscaled = serial_parallel_sgd(spec, 2, seed, lam, gamma, schedule, budget)
    assert not np.allclose(run.x, unscaled, rtol=1e-6)


@pytest.mark.parametrize(
    ("n", "spec", "algo_flags", "schedule"),
    [
        (
            4,
            "synthetic:n=2000,d=12,seed=3",
            ["--algo", "cr-psgd", "--b1", "2", "--rho", "1.5"],
            ExponentialBatch(2, 1.5),
        ),
        (
            4,
            "synthetic:n=2001,d=12,seed=4,density=0.3",
            ["--algo", "cr-psgd", "--b1", "3", "--rho", "1.3"],
            ExponentialBatch(3, 1.3),
        ),
        (2, "synthetic:n=999,d=7,seed=5", ["--algo", "psgd", "--batch", "5"], ConstantBatch(5)),
    ],
)
def test_mpi_run_matches_serial_recomputation(tmp_path, n, spec, algo_flags, schedule):
    out = tmp_path / "run.h5"
    budget, seed, lam, gamma = 600, 7, 1e-3, 0.5
    proc = run_mpi(
        n,
        [
            "-m",
            "crpsgd",
            "run",
            "--data",
            spec,
            *algo_flags,
            "--T",
            str(budget),
            "--seed",
            str(seed),
            "--lam",
            str(lam),
            "--gamma",
            str(gamma),
            "--fstar",
            "auto",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    expected_batches = batch_sequence(schedule, budget)

    assert run.status == "completed" and run.attrs["n_workers"] == n
    np.testing.assert_array_equal(run.rounds["batch"], expected_batches)
    np.testing.assert_array_equal(run.rounds["round"], np.arange(1, len(expected_batches) + 1))
    np.testing.assert_array_equal(run.rounds["sfo_per_worker"], np.cumsum(expected_batches))
    np.testing.assert_array_equal(run.rounds["sfo_total"], n * np.cumsum(expected_batches))
    assert run.rounds["sfo_per_worker"][-1] <= budget
    assert run.summary["rounds"] == len(expected_batches)
    assert run.summary["sfo_per_worker"] == sum(expected_batches)
    # one float64 vector plus one control slot per round, and on N >= 2 the slot of this
    # rank's ||g_i||^2 for the noise estimate (issue 9)
    slots = 1 + (n > 1)
    assert run.summary["comm_bytes"] == len(expected_batches) * (run.x.size + slots) * 8

    x_serial = serial_parallel_sgd(spec, n, seed, lam, gamma, schedule, budget)
    np.testing.assert_allclose(run.x, x_serial, rtol=1e-11, atol=1e-14)

    # evaluation rows: the initial point, geometric SFO points, and the last round
    assert run.eval["round"][0] == 0 and run.eval["round"][-1] == len(expected_batches)
    assert np.all(np.diff(run.eval["sfo_per_worker"]) > 0)
    assert np.all(run.eval["suboptimality"] >= -1e-12)
    assert run.eval["objective"][-1] < run.eval["objective"][0]


def test_log_schema_of_a_finished_run(tmp_path):
    out = tmp_path / "run.h5"
    proc = run_mpi(
        2,
        [
            "-m",
            "crpsgd",
            "run",
            "--data",
            "synthetic:n=500,d=5",
            "--T",
            "300",
            "--test-data",
            "synthetic:n=200,d=5,seed=9",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    for key in (
        "crpsgd_version",
        "algorithm",
        "config",
        "n_workers",
        "seed",
        "data_path",
        "data_kind",
        "data_shape",
        "data_sha256",
        "mpi_library",
        "start_time",
        "end_time",
        "status",
        "f_star",
        "smoothness_L",
        "step_size",
        "test_data_path",
    ):
        assert key in run.attrs, key
    assert set(run.rounds) == set(ROUND_COLUMNS) and set(run.eval) == set(EVAL_COLUMNS)
    assert run.config["T"] == 300 and run.config["algo"] == "cr-psgd"
    assert run.attrs["data_shape"] == [500, 5] and len(run.attrs["data_sha256"]) == 64
    assert 0.5 < run.eval["test_accuracy"][-1] <= 1.0
    assert np.isclose(run.attrs["step_size"], 1.0 / run.attrs["smoothness_L"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rho", "0.5"], "--rho='0.5': must be > 1"),
        (["--data", "synthetic:n=3,d=2"], "4 ranks but only 3 rows"),
        (["--data", "{missing}"], "no such file"),
        (["--data", "{badlabel}"], "bad.svm:2: non-binary label"),
        (["--algo", "diloco", "--lr-scaling", "linear"], "--lr-scaling=linear: the step follows"),
    ],
)
def test_bad_input_under_mpi_gives_one_message_and_exit_2(tmp_path, args, message):
    bad = tmp_path / "bad.svm"
    bad.write_text("1 1:0.5\n3 2:1.0\n-1 1:1\n")
    args = [a.format(missing=tmp_path / "none.svm", badlabel=bad) for a in args]
    proc = run_mpi(4, ["-m", "crpsgd", "run", "--out", str(tmp_path / "o.h5"), *args], timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("crpsgd: error:") == 1, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.h5").exists()
