"""``crpsgd run --problem torch --optimizer sgd|adam|adamw|pkg.module:fn`` under ``mpiexec
-n 2``: each optimizer is the torch one it names (checked against the plain step and against
a factory), it is logged, and a run stopped and resumed ends bit for bit where the
uninterrupted one does (the optimizer's state_dict travels in the checkpoint)."""

import os
import textwrap

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.runlog import read_run  # noqa: E402
from tests.conftest import ROOT, run_cli, run_mpi  # noqa: E402

pytestmark = pytest.mark.mpi

OWN = textwrap.dedent(
    """
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset


    def pair():
        g = torch.Generator().manual_seed(3)
        x = torch.randn(80, 5, generator=g)
        y = (x[:, 0] - x[:, 2] > 0).long()
        return TensorDataset(x[:64], y[:64]), TensorDataset(x[64:], y[64:])


    def build():
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))


    def adamw(params):  # what --optimizer adamw --gamma 0.05 builds
        return torch.optim.AdamW(params, lr=0.05)


    def not_an_optimizer(params):
        return list(params)
    """
)
FLAGS = ["--algo", "cr-psgd", "--b1", "2", "--rho", "1.5", "--T", "60", "--gamma", "0.05"]


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    (folder / "own_opt.py").write_text(OWN)
    return folder


def _run(own, out, *extra, stop=None):
    args = ["-m", "crpsgd", "run", "--problem", "torch", "--model", "own_opt:build"]
    args += ["--data", "own_opt:pair", "--out", str(out), "--quiet", "--eval-rows", "16"]
    env = {"PYTHONPATH": os.pathsep.join([str(own), str(ROOT)])}
    if stop is not None:
        env["CRPSGD_TEST_STOP_AT"] = stop
    return run_mpi(2, [*args, *FLAGS, *extra], timeout=300, env=env)


def test_adamw_resumes_bit_for_bit_and_equals_its_factory(own, tmp_path):
    full, part, factory = tmp_path / "full.h5", tmp_path / "part.h5", tmp_path / "factory.h5"
    assert _run(own, full, "--optimizer", "adamw").returncode == 0
    stopped = _run(own, part, "--optimizer", "adamw", stop="1:round:3")
    assert stopped.returncode == 75, stopped.stderr
    ckpt = tmp_path / "part.ckpt.h5"
    with h5py.File(ckpt, "r") as f:  # Adam's moments of every parameter, on every rank
        names = set()
        f.visit(names.add)
    for rank in (0, 1):
        assert any(n.endswith(f"optimizer:0:exp_avg_sq@rank{rank}") for n in names), names
    env = {"PYTHONPATH": os.pathsep.join([str(own), str(ROOT)])}
    resumed = run_mpi(2, ["-m", "crpsgd", "run", "--resume", str(ckpt)], timeout=300, env=env)
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_run(full), read_run(part)
    assert a.summary["rounds"] == b.summary["rounds"] > 3
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.eval["objective"], b.eval["objective"])
    assert a.attrs["optimizer"].startswith("AdamW(lr=0.05, ")
    assert a.config["optimizer"] == "adamw"
    info = run_cli(["info", str(full)])
    assert '"optimizer": "adamw"' in info.stdout and "  optimizer        AdamW(" in info.stdout
    # the factory of the same AdamW gives the same run, bit for bit
    done = _run(own, factory, "--optimizer", f"{own / 'own_opt.py'}:adamw")
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(read_run(factory).x, a.x)


def test_sgd_is_the_plain_step_with_momentum_weight_decay_and_the_schedule(own, tmp_path):
    """torch.optim.SGD with lr = gamma_t, momentum and weight decay is the paper's step with
    the same settings (float32 rounding apart); the warm-up and decay scale its lr."""
    flags = ["--momentum", "0.9", "--weight-decay", "1e-3", "--warmup", "8"]
    flags += ["--lr-schedule", "step", "--decay-at", "0.5"]
    sgd, plain = tmp_path / "sgd.h5", tmp_path / "plain.h5"
    assert _run(own, sgd, "--optimizer", "sgd", *flags).returncode == 0
    assert _run(own, plain, *flags).returncode == 0
    a, b = read_run(sgd), read_run(plain)
    assert a.attrs["optimizer"].startswith("SGD(lr=0.05, momentum=0.9, ")
    assert "optimizer" not in b.attrs
    start = read_run(sgd).eval["objective"][0]
    assert a.eval["objective"][-1] != start  # it moved
    np.testing.assert_allclose(a.x, b.x, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--optimizer", "adamz"], "--optimizer='adamz': not plain, sgd, adam, adamw nor"),
        (["--optimizer", "adam", "--momentum", "0.9"], "--momentum=0.9: not a setting of"),
        (["--optimizer", "own_opt:nope"], "--optimizer=own_opt:nope: cannot load own_opt:nope"),
        (["--optimizer", "own_opt:not_an_optimizer"], "returned list, not a torch.optim"),
    ],
)
def test_a_bad_optimizer_is_one_message_and_exit_2(own, tmp_path, flags, message):
    proc = _run(own, tmp_path / "bad.h5", *flags)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("crpsgd: error:") == 1 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "bad.h5").exists()


def test_a_non_torch_problem_refuses_the_optimizer(tmp_path):
    proc = run_cli(["run", "--optimizer", "adamw", "--T", "100", "--out", str(tmp_path / "x.h5")])
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--optimizer belongs to --problem torch, not --problem logreg" in proc.stderr
