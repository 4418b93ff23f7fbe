"""Adding an algorithm is one module plus one registry line (issue 17): the toy algorithm of
``tests/toy_algorithm.py``, loaded through ``CRPSGD_PLUGINS``, runs under ``mpiexec -n 2``
with periodic checkpoints, is stopped, resumed, and ends where the uninterrupted run ends."""

from __future__ import annotations

import numpy as np
import pytest

from crpsgd.files.checkpoint import read_checkpoint
from crpsgd.runlog import read_run
from tests.conftest import ROOT, run_mpi

pytestmark = pytest.mark.mpi

PLUGIN = {"CRPSGD_PLUGINS": "tests.toy_algorithm"}
ARGS = [
    "--algo", "toy-heavy-ball", "--batch", "3", "--hb-beta", "0.8", "--T", "600",
    "--data", "synthetic:n=1200,d=8,seed=2", "--gamma", "0.5", "--seed", "4", "--quiet",
]  # fmt: skip


def _run(args: list[str], env: dict[str, str] | None = None):
    return run_mpi(2, ["-m", "crpsgd", "run", *args], env={**PLUGIN, **(env or {})})


def test_toy_algorithm_stops_resumes_and_ends_bit_for_bit(tmp_path):
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    done = _run([*ARGS, "--out", str(full)])
    assert done.returncode == 0, done.stderr
    ckpt_path = tmp_path / "part.ckpt.h5"
    stopped = _run(
        [*ARGS, "--out", str(part), "--checkpoint-every", "5"],
        env={"CRPSGD_TEST_STOP_AT": "1:round:12"},
    )
    assert stopped.returncode == 75, stopped.stderr
    ckpt = read_checkpoint(ckpt_path)
    assert 12 <= ckpt.rounds < read_run(full).summary["rounds"] == 200
    assert ckpt.algorithm == "toy-heavy-ball" and np.any(ckpt.arrays["momentum"] != 0.0)

    resumed = _run(["--resume", str(ckpt_path), "--quiet"])
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_run(full), read_run(part)
    assert a.status == b.status == "completed" and b.attrs["resumed_at_rounds"] == [ckpt.rounds]
    assert np.array_equal(a.x, b.x)  # bit for bit
    for name in ("round", "batch", "sfo_per_worker", "step_size"):
        np.testing.assert_array_equal(a.rounds[name], b.rounds[name])
    for name in ("round", "objective", "grad_norm_sq"):
        np.testing.assert_array_equal(a.eval[name], b.eval[name])


def test_toy_algorithm_without_its_momentum_would_not_resume(tmp_path):
    """The momentum is what a checkpoint must keep: beta = 0 (plain PSGD) ends elsewhere."""
    plain, heavy = tmp_path / "plain.h5", tmp_path / "heavy.h5"
    zero = [*ARGS[:5], "0.0", *ARGS[6:]]
    assert _run([*zero, "--out", str(plain)]).returncode == 0
    assert _run([*ARGS, "--out", str(heavy)]).returncode == 0
    assert not np.array_equal(read_run(plain).x, read_run(heavy).x)


def test_the_worked_example_page_shows_the_module_as_it_is():
    page = (ROOT / "docs" / "worked-example-algorithm.md").read_text()
    assert (ROOT / "tests" / "toy_algorithm.py").read_text() in page
