"""The adaptive schedule and the noise columns through ``crpsgd run`` under ``mpiexec -n 2``:
batches never shrink, grow at most ``--max-growth`` times, fit ``T``; every run logs the
estimates; stop and resume is bit for bit; Catalyst's inner runs each start at ``B_1``; the
fixed schedule's warning is printed once and logged."""

import math

import numpy as np
import pytest

from crpsgd.runlog import read_run
from tests.conftest import run_mpi

pytestmark = pytest.mark.mpi

DATA = "synthetic:n=2000,d=8,seed=2,cond=100"
ADAPTIVE = ["--algo", "cr-psgd", "--schedule", "adaptive", "--b1", "2", "--eta", "1", "--T", "3000"]


def _run(tmp_path, name, args, env=None):
    out = tmp_path / f"{name}.h5"
    cli = ["-m", "crpsgd", "run", "--data", DATA, "--quiet", "--out", str(out), *args]
    proc = run_mpi(2, cli, env=env)
    return proc, out


def test_adaptive_run_never_shrinks_never_grows_past_max_growth_and_fits_t(tmp_path):
    proc, out = _run(tmp_path, "a", ADAPTIVE)
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    b, grown = run.rounds["batch"], run.rounds["batch"][run.rounds["budget_fill"] == 0]
    assert b[0] == 2 and b[-1] > 4 * b[0]  # it grew on its own
    assert np.all(b[1:] >= b[:-1]) and np.all(grown[1:] <= np.floor(2.0 * grown[:-1]))
    assert run.rounds["sfo_per_worker"][-1] == b.sum() == 3000  # the last round took the rest
    assert np.all(np.isfinite(run.rounds["noise_var"]))
    assert run.units["rounds"]["noise_scale"][0] == "samples"


def test_a_fixed_schedule_logs_the_estimates_and_warns_once(tmp_path):
    proc, out = _run(
        tmp_path, "p", ["--algo", "cr-psgd", "--b1", "2", "--rho", "1.2", "--T", "800"]
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("warning: rho >= 1/(1 − gamma lambda)") == 1  # rank 0 only
    run = read_run(out)
    assert run.attrs["schedule_warning"].startswith("rho >= 1/(1 − gamma lambda)")
    tr, g2, scale = (run.rounds[c] for c in ("noise_var", "grad_sq_est", "noise_scale"))
    assert np.all(np.isfinite(tr)) and np.all(np.isfinite(g2))
    assert np.isfinite(scale[-1]) and scale[-1] > 0
    # plain psgd with the default lam and a small rho-free schedule: no warning
    quiet, out2 = _run(tmp_path, "q", ["--algo", "psgd", "--batch", "4", "--T", "400"])
    assert quiet.returncode == 0 and "warning" not in quiet.stderr
    assert "schedule_warning" not in read_run(out2).attrs
    assert np.all(np.isfinite(read_run(out2).rounds["noise_var"]))


def test_adaptive_stop_and_resume_is_bitwise_identical(tmp_path):
    full_proc, full = _run(tmp_path, "full", ADAPTIVE)
    assert full_proc.returncode == 0, full_proc.stderr
    stopped, part = _run(tmp_path, "part", ADAPTIVE, env={"CRPSGD_TEST_STOP_AT": "1:round:9"})
    assert stopped.returncode == 75, stopped.stderr
    ckpt = tmp_path / "part.ckpt.h5"
    resumed = run_mpi(2, ["-m", "crpsgd", "run", "--resume", str(ckpt), "--quiet"])
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_run(full), read_run(part)
    assert np.array_equal(a.x, b.x)
    for name in ("round", "batch", "sfo_per_worker", "noise_var", "grad_sq_est", "noise_scale"):
        np.testing.assert_array_equal(a.rounds[name], b.rounds[name])


def test_catalyst_inner_runs_each_start_the_adaptive_batch_afresh(tmp_path):
    args = ["--algo", "cr-psgd-catalyst", "--problem", "logreg-nonconvex", "--schedule",
            "adaptive", "--b1", "2", "--eta", "1", "--theta", "0.8", "--gamma", "0.3",
            "--T", "1600"]  # fmt: skip
    proc, out = _run(tmp_path, "c", args)
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    outer, b, fill = run.rounds["outer"], run.rounds["batch"], run.rounds["budget_fill"]
    ks = np.unique(outer)
    assert len(ks) > 1
    for k in ks:
        inner, grown = b[outer == k], b[(outer == k) & (fill == 0)]  # the last may take the rest
        assert inner[0] == 2
        assert np.all(inner[1:] >= inner[:-1]) and np.all(grown[1:] <= 2 * grown[:-1])
        assert inner.sum() == run.attrs["inner_budget"]  # each inner run spends its budget
    assert any(b[outer == k].max() > 2 for k in ks)  # it grew inside some inner run
    assert not math.isnan(run.summary["objective"])
