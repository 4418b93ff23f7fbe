"""A problem and a schedule registered from outside the package (``tests/plugin_parts.py``,
loaded through ``CRPSGD_PLUGINS``) run through ``crpsgd run`` under ``mpiexec -n 2``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crpsgd.data.rng import sample_indices, worker_rng
from crpsgd.data.shard import shard_bounds
from crpsgd.files.checkpoint import read_checkpoint
from crpsgd.runlog import read_run
from tests.conftest import run_mpi

pytestmark = pytest.mark.mpi

PLUGIN = {"CRPSGD_PLUGINS": "tests.plugin_parts"}
N_ROWS, DIM, B1, RATIO, GAMMA, BETA, BUDGET, SEED = 64, 3, 2, 1.0, 0.4, 0.5, 300, 5
ARGS = [
    "--problem", "toy-mean", "--toy-n", str(N_ROWS), "--toy-d", str(DIM),
    "--schedule", "toy-noise", "--toy-b1", str(B1), "--toy-ratio", str(RATIO),
    "--gamma", str(GAMMA), "--toy-beta", str(BETA), "--T", str(BUDGET), "--seed", str(SEED),
    "--quiet",
]  # fmt: skip


def _run(out: Path, *extra: str, env: dict[str, str] | None = None):
    return run_mpi(
        2, ["-m", "crpsgd", "run", *ARGS, "--out", str(out), *extra], env={**PLUGIN, **(env or {})}
    )


def toy_rows(start: int, stop: int, d: int) -> np.ndarray:
    """The toy rows ``a_i[j] = sin((i + 1) (j + 1))``, written out again here: importing the
    plugin into this process would register its parts in every test's registry."""
    return np.array([[np.sin((i + 1.0) * (j + 1.0)) for j in range(d)] for i in range(start, stop)])


def serial_toy_run(n_workers: int) -> tuple[np.ndarray, list[tuple[int, int, float, float]]]:
    """The toy run recomputed in one process: every worker's stream, gradient and
    ``||g_i||^2``, their averages, the schedule's doubling rule and the heavy-ball step."""
    shards = [toy_rows(*shard_bounds(N_ROWS, r, n_workers), DIM) for r in range(n_workers)]
    rngs = [worker_rng(SEED, r) for r in range(n_workers)]
    x, m, batch, used, t, trace = np.zeros(DIM), np.zeros(DIM), B1, 0, 1, []
    while used + batch <= BUDGET:
        used += batch
        grads = [
            x - rows[sample_indices(rng, len(rows), batch)].mean(axis=0)
            for rows, rng in zip(shards, rngs, strict=True)
        ]
        g = sum(grads) / n_workers
        mean_sq = sum(float(gi @ gi) for gi in grads) / n_workers
        trace.append((t, batch, mean_sq, float(g @ g)))
        if mean_sq - float(g @ g) > RATIO * float(g @ g):
            batch *= 2
        m = BETA * m + g
        x = x - GAMMA * m
        t += 1
    return x, trace


def _trace(path: Path) -> list[tuple[int, int, float, float]]:
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(int(t), int(b), float(m), float(g)) for t, b, m, g in rows]


def test_plugin_problem_and_observing_schedule_under_mpi(tmp_path):
    out = tmp_path / "toy.h5"
    proc = _run(out, env={"CRPSGD_TOY_TRACE": str(tmp_path / "trace")})
    assert proc.returncode == 0, proc.stderr
    x_ref, trace_ref = serial_toy_run(2)
    seen = [_trace(tmp_path / f"trace.{r}") for r in (0, 1)]
    assert seen[0] == seen[1]  # every rank observed the same reduced statistics
    assert [row[:2] for row in seen[0]] == [row[:2] for row in trace_ref]
    np.testing.assert_allclose(
        [row[2:] for row in seen[0]], [row[2:] for row in trace_ref], rtol=1e-12
    )
    assert len({row[1] for row in trace_ref}) >= 3  # the schedule did adapt
    run = read_run(out)
    assert run.attrs["problem"] == "toy-mean" and run.config["schedule"] == "toy-noise"
    assert list(run.rounds["batch"]) == [row[1] for row in trace_ref]
    np.testing.assert_allclose(run.x, x_ref, rtol=1e-12, atol=1e-15)


def test_schedule_and_problem_state_survive_a_checkpoint(tmp_path):
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    assert _run(full).returncode == 0
    stopped = _run(part, env={"CRPSGD_TEST_STOP_AT": "1:round:9"})
    assert stopped.returncode == 75, stopped.stderr
    ckpt = read_checkpoint(tmp_path / "part.ckpt.h5")
    assert ckpt.rounds == 9
    # the toy schedule's own state, inside the noise estimate every N >= 2 run carries (issue 9)
    sched = ckpt.state["schedule"]
    assert sched["schedule"]["current"] == read_run(full).rounds["batch"][9]  # B_10
    assert "noise" in sched
    assert {"momentum@rank0", "momentum@rank1"} <= set(ckpt.arrays)
    resumed = run_mpi(
        2, ["-m", "crpsgd", "run", "--resume", str(tmp_path / "part.ckpt.h5")], env=PLUGIN
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_run(full), read_run(part)
    assert np.array_equal(a.x, b.x)  # bit for bit: the batches and momentum after the stop
    np.testing.assert_array_equal(a.rounds["batch"], b.rounds["batch"])


def test_a_plugin_flag_of_an_unselected_schedule_is_rejected(tmp_path):
    proc = run_mpi(
        2,
        ["-m", "crpsgd", "run", "--problem", "toy-mean", "--toy-ratio", "2", "--T", "100",
         "--gamma", "0.5", "--out", str(tmp_path / "r.h5")],
        env=PLUGIN,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("crpsgd: error:") == 1
    assert "--toy-ratio belongs to --schedule toy-noise, not --schedule exponential" in proc.stderr


def test_a_plugin_that_does_not_import_is_one_message(tmp_path):
    proc = run_mpi(
        2,
        ["-m", "crpsgd", "run", "--T", "100", "--out", str(tmp_path / "r.h5")],
        env={"CRPSGD_PLUGINS": "tests.no_such_plugin"},
    )
    assert proc.returncode == 2
    assert proc.stderr.count("crpsgd: error:") == 1
    assert "CRPSGD_PLUGINS=tests.no_such_plugin: cannot import 'tests.no_such_plugin'" in (
        proc.stderr
    )
    assert not (tmp_path / "r.h5").exists()
