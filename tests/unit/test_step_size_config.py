"""The step-size rule of the common flags (``--lr-schedule``, ``--decay-at``, ``--warmup``)
for any problem; the ``/eval/test_loss`` column of older logs; ``cifar10:`` data identity;
the entry point's model names. None of it needs torch."""

import h5py
import numpy as np
import pytest

from crpsgd.data.cifar10 import SOURCE_NOTE
from crpsgd.data.loader import data_identity
from crpsgd.errors import UsageError
from crpsgd.runlog import read_run
from crpsgd.schedules.step_size import ConstantStep, LinearWarmup, StepDecay, step_size_from_config
from crpsgd.torchprob.api import model_spec
from tests.cifar_files import write_random_cifar
from tests.conftest import run_cli


def test_the_rule_of_the_config():
    cfg = {"T": 100, "lr_schedule": "constant", "decay_at": "0.5,0.75", "decay_factor": 0.1}
    cfg.update(warmup=0, warmup_start=0.1)
    assert step_size_from_config(cfg, 0.3) == ConstantStep(0.3)
    assert step_size_from_config({"T": 100}, 0.3) == ConstantStep(0.3)  # older checkpoints
    step = step_size_from_config({**cfg, "lr_schedule": "step"}, 1.0)
    assert isinstance(step, StepDecay)
    assert [step(s) for s in (0, 49, 50, 74, 75, 100)] == [1.0, 1.0, 0.1, 0.1, 0.1**2, 0.1**2]
    warm = step_size_from_config({**cfg, "warmup": 10, "warmup_start": 0.5}, 2.0)
    assert isinstance(warm, LinearWarmup)
    assert [warm(s) for s in (0, 5, 10, 20)] == [1.0, 1.5, 2.0, 2.0]


def test_lr_schedule_is_a_flag_of_every_problem(tmp_path):
    out = tmp_path / "run.h5"
    args = ["run", "--data", "synthetic:n=200,d=5,seed=1", "--algo", "psgd", "--batch", "4"]
    args += ["--T", "40", "--gamma", "0.5", "--lr-schedule", "step", "--decay-at", "0.5"]
    args += ["--out", str(out), "--quiet"]
    proc = run_cli(args)
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    sfo_before = run.rounds["sfo_per_worker"] - run.rounds["batch"]
    np.testing.assert_array_equal(run.rounds["step_size"], np.where(sfo_before >= 20, 0.05, 0.5))
    assert np.isnan(run.eval["test_loss"]).all()  # no torch problem: the column is NaN
    bad = run_cli([*args[:-3], "--decay-at", "0.8,0.2", "--out", str(tmp_path / "b.h5")])
    assert bad.returncode == 2 and "--decay-at" in bad.stderr and "increase" in bad.stderr


def test_a_log_without_test_loss_reads_as_nan(tmp_path):
    out = tmp_path / "run.h5"
    args = ["run", "--data", "synthetic:n=100,d=3,seed=1", "--algo", "psgd", "--batch", "4"]
    assert run_cli([*args, "--T", "20", "--out", str(out), "--quiet"]).returncode == 0
    with h5py.File(out, "a") as f:
        del f["eval/test_loss"]  # as a log written before the column
    run = read_run(out)
    assert run.eval["test_loss"].shape == run.eval["round"].shape
    assert np.isnan(run.eval["test_loss"]).all()
    assert run.units["eval"]["test_loss"][0] == "1"


def test_cifar10_sources_have_their_identity_and_note(tmp_path):
    write_random_cifar(tmp_path)
    ident = data_identity(f"cifar10:{tmp_path}")
    assert ident["kind"] == "cifar10" and ident["note"] == "CIFAR-10 binary version"
    (tmp_path / SOURCE_NOTE).write_text("a stand-in: not CIFAR-10\nmore\n")
    again = data_identity(f"cifar10:{tmp_path}")
    assert again["note"] == "a stand-in: not CIFAR-10" and again["sha256"] == ident["sha256"]


def build():
    return None


def test_model_spec_names_a_top_level_callable():
    assert model_spec(build) == "tests.unit.test_step_size_config:build"
    assert model_spec("pkg.mod:make") == "pkg.mod:make"
    with pytest.raises(UsageError, match="top level"):
        model_spec(lambda: None)

    def local():
        return None

    with pytest.raises(UsageError, match="top level"):
        model_spec(local)
