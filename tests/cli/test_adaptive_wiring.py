"""The adaptive schedule's wiring on one rank: the watching estimate composed with a
schedule's own slots, the registered part and its binding, the warning hook, the noise
columns of logs and the reading of older (format 2) logs."""

import math
import subprocess
import sys

import h5py
import numpy as np
import pytest

from crpsgd.registry import parts
from crpsgd.runlog import read_run
from crpsgd.schedules.adaptive import AdaptiveBatch, rho_warning
from crpsgd.schedules.observed import ObservedSchedule, noise_columns, with_noise_estimate
from crpsgd.schedules.schedule import (
    ConstantBatch,
    ExponentialBatch,
    LocalStats,
    RoundStats,
    Schedule,
)
from tests.conftest import ROOT


class SlotSchedule(Schedule):
    """A schedule with one slot of its own: it records what it is given."""

    extra_slots = 1

    def __init__(self) -> None:
        self.seen: list[float] = []

    def batch(self, t: int) -> int:
        return 3

    def fill_slots(self, view, local):
        view[0] = 10.0 + local.t

    def observe(self, t, stats):
        self.seen.append(float(stats.slots[0]))

    def state(self):
        return {"seen": list(self.seen)}

    def load_state(self, state):
        self.seen = list(state["seen"])


def test_the_watching_estimate_rides_after_a_schedules_own_slots():
    inner = SlotSchedule()
    s = ObservedSchedule(inner, 2, noise_ema=0.0, noise_source="workers")
    assert s.extra_slots == 2
    g = [np.array([1.0, 2.0]), np.array([3.0, 0.0])]
    views = np.zeros((2, 2))
    for i in range(2):
        s.fill_slots(views[i], LocalStats(1, 3, g[i]))
    assert views[0, 0] == 11.0 and views[0, 1] == 5.0 and views[1, 1] == 9.0
    gbar = np.mean(g, axis=0)
    s.observe(1, RoundStats(1, 3, gbar, views.mean(axis=0), 2))
    assert inner.seen == [11.0]  # its own slot, averaged, and only that
    # the estimate from ||g_i||^2 = 5, 9 and ||gbar||^2 = 4 + 1 = 5, by hand
    var_of_mean = 2 / 1 * ((5 + 9) / 2 - 5)
    assert s.last.trace == pytest.approx(3 * var_of_mean)
    assert s.last.grad_sq == pytest.approx(5 - var_of_mean / 2)
    again = ObservedSchedule(SlotSchedule(), 2, noise_ema=0.0, noise_source="workers")
    again.load_state(s.state())
    assert again.schedule.seen == [11.0] and again.state() == s.state()


def test_with_noise_estimate_wraps_pure_schedules_on_several_ranks_only():
    pure = ExponentialBatch(4, 1.5)
    assert with_noise_estimate(pure, 1, None) is pure  # one rank: no slot, NaN columns
    assert all(math.isnan(v) for v in noise_columns(pure).values())
    wrapped = with_noise_estimate(pure, 3, None)
    assert isinstance(wrapped, ObservedSchedule) and wrapped.extra_slots == 1
    assert [wrapped.batch(t) for t in range(1, 6)] == [pure(t) for t in range(1, 6)]
    own = AdaptiveBatch(4, 3)
    assert with_noise_estimate(own, 3, None) is own  # it has its estimate already


def test_adaptive_restart_begins_at_b1_with_fresh_estimates():
    s = AdaptiveBatch(2, 2, eta=0.1, noise_ema=0.0)
    rng = np.random.default_rng(0)
    for t in range(1, 5):
        g = [rng.normal(1.0, 3.0, size=4) for _ in range(2)]
        views = np.zeros((2, 1))
        for i in range(2):
            s.fill_slots(views[i], LocalStats(t, s.batch(t), g[i]))
        s.observe(t, RoundStats(t, s.batch(t), np.mean(g, axis=0), views.mean(axis=0), 2))
    assert s.batch(5) > 2
    s.restart()
    assert s.batch(1) == 2 and s.last is None
    with pytest.raises(ValueError, match="known for rounds 1..1"):
        s.batch(2)


def test_the_part_builds_unbound_and_run_binds_it():
    cfg = {"algo": "cr-psgd", "schedule": "adaptive", "problem": "logreg", "b1": 4, "eta": 2.0,
           "max_growth": 3.0, "noise_ema": 0.5, "noise_source": "auto"}  # fmt: skip
    s = parts.build_schedule(cfg, 2, None)
    assert isinstance(s, AdaptiveBatch) and s.n_workers == 2 and s.noise.source == "workers"
    assert (s.eta, s.max_growth, s.noise_ema) == (2.0, 3.0, 0.5)
    unbound = parts.schedule("adaptive").build(cfg)
    with pytest.raises(ValueError, match="bind"):
        unbound.fill_slots(np.zeros(1), LocalStats(1, 4, np.zeros(2)))


def test_warning_hook_uses_the_problems_mu_and_catalysts_theta():
    cfg = {"algo": "cr-psgd", "schedule": "auto", "problem": "logreg", "lam": 0.01, "rho": 1.05,
           "b1": 4}  # fmt: skip
    assert parts.schedule_warning(cfg, 1.0, {}) == rho_warning(1.0, 0.01, 1.05)
    assert parts.schedule_warning({**cfg, "rho": 1.01}, 1.0, {}) is None
    # no known mu: no warning
    assert parts.schedule_warning({**cfg, "problem": "logreg-nonconvex"}, 1.0, {}) is None
    # Catalyst's inner problems have mu >= lam + theta: 1/(1 - 0.5 (0.01 + 0.5)) = 1.34
    cat = {**cfg, "algo": "cr-psgd-catalyst"}
    assert parts.schedule_warning(cat, 0.5, {"theta": 0.5}) is None
    assert parts.schedule_warning({**cat, "rho": 1.4}, 0.5, {"theta": 0.5}) is not None
    # the adaptive and constant schedules have no rho to warn about
    assert parts.schedule_warning({**cfg, "schedule": "adaptive"}, 1.0, {}) is None
    assert parts.schedule_warning({**cfg, "algo": "psgd"}, 1.0, {}) is None


def test_adaptive_on_one_rank_without_sample_norms_exits_2_with_one_message(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "crpsgd", "run", "--data", "synthetic:n=200,d=4,seed=1",
         "--problem", "mlp", "--algo", "cr-psgd", "--schedule", "adaptive", "--T", "100",
         "--gamma", "0.1", "--out", str(tmp_path / "r.h5"), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--schedule adaptive on one worker" in proc.stderr
    assert not (tmp_path / "r.h5").exists()  # refused before anything was written


@pytest.mark.parametrize("problem", ["logreg", "torch"])
def test_adaptive_b1_1_with_the_within_worker_estimate_exits_2(tmp_path, problem):
    """Issue 22, class 14: on one rank the within-worker estimate of one sample was NaN for
    every round and the batch never grew, in silence."""
    if problem == "torch":
        pytest.importorskip("torch", reason="PyTorch is not installed")
    extra = ["--model", "tests.torch_bad_models:linear"] if problem == "torch" else []
    proc = subprocess.run(
        [sys.executable, "-m", "crpsgd", "run", "--data", "synthetic:n=200,d=5,seed=1",
         "--problem", problem, *extra, "--algo", "cr-psgd", "--schedule", "adaptive",
         "--b1", "1", "--T", "100", "--gamma", "0.1", "--out", str(tmp_path / "r.h5"),
         "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("crpsgd:")]
    assert len(lines) == 1 and "--b1=1: --schedule adaptive with the within-worker" in lines[0]
    assert not (tmp_path / "r.h5").exists()


def test_one_rank_logs_nan_columns_and_a_format_2_log_reads_with_nan_columns(tmp_path):
    out = tmp_path / "r.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "crpsgd", "run", "--data", "synthetic:n=300,d=4,seed=1",
         "--algo", "psgd", "--batch", "4", "--T", "40", "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    assert run.format_version == 3 and len(run.rounds["noise_var"]) == 10
    assert np.all(np.isnan(run.rounds["noise_scale"]))
    with h5py.File(out, "r+") as f:  # make it a log of format 2, written before the columns
        f.attrs["format_version"] = 2
        for c in ("noise_var", "grad_sq_est", "noise_scale"):
            del f["rounds"][c]
    old = read_run(out)
    assert old.format_version == 2
    assert old.rounds["noise_var"].dtype == np.float64 and np.all(np.isnan(old.rounds["noise_var"]))
    assert old.units["rounds"]["noise_scale"][0] == "samples"
    np.testing.assert_array_equal(old.rounds["batch"], run.rounds["batch"])


def test_constant_schedule_batches_unchanged_by_the_wrapper():
    w = with_noise_estimate(ConstantBatch(7), 4, None)
    assert [w(t) for t in range(1, 4)] == [7, 7, 7] and w.state()["noise"]["source"] == "workers"
