"""``crpsgd run --problem torch`` end to end: the registered part, its log (test_loss,
data_note, eval_rows, step sizes), checkpoint/resume bit for bit under ``mpiexec -n 2``, bad
input through the CLI (one message, exit status 2), ``crpsgd digits-cifar10`` and the
Python entry point ``crpsgd.torchprob.api.run``."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.runlog import read_run  # noqa: E402
from tests.cifar_files import write_random_cifar  # noqa: E402
from tests.conftest import ROOT, run_cli, run_mpi  # noqa: E402

pytestmark = pytest.mark.mpi
ENV = {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("cifar")
    write_random_cifar(path, rows=(6, 6, 6, 6, 6), test_rows=8)
    return f"cifar10:{path}"


def _args(data, out, *extra):
    return [
        "-m", "crpsgd", "run", "--problem", "torch", "--model", "tests.torch_models:small_cnn",
        "--data", data, "--out", str(out), "--quiet", "--eval-rows", "12", *extra,
    ]  # fmt: skip


def test_resume_is_bit_for_bit_on_two_ranks(tmp_path, data):
    """Momentum buffers, BatchNorm statistics, the sampling and augmentation streams all
    continue: the resumed run ends where the uninterrupted one does, bit for bit."""
    flags = ["--algo", "cr-psgd", "--b1", "2", "--rho", "1.3", "--T", "60", "--gamma", "0.05"]
    flags += ["--momentum", "0.9", "--weight-decay", "1e-3", "--micro-batch", "3"]
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    done = run_mpi(2, _args(data, full, *flags), timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr
    stopped = run_mpi(
        2, _args(data, part, *flags), timeout=300, env={**ENV, "CRPSGD_TEST_STOP_AT": "1:round:4"}
    )
    assert stopped.returncode == 75, stopped.stderr
    ckpt = tmp_path / "part.ckpt.h5"
    resumed = run_mpi(2, ["-m", "crpsgd", "run", "--resume", str(ckpt)], timeout=300, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_run(full), read_run(part)
    assert b.summary["rounds"] == a.summary["rounds"] > 4
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.eval["objective"], b.eval["objective"])
    np.testing.assert_array_equal(a.eval["test_loss"], b.eval["test_loss"])


def test_the_log_of_a_torch_run(tmp_path, data):
    out = tmp_path / "run.h5"
    flags = ["--algo", "psgd", "--batch", "4", "--T", "40", "--gamma", "0.1"]
    flags += ["--lr-schedule", "step", "--decay-at", "0.5", "--warmup", "8"]
    proc = run_mpi(2, _args(data, out, *flags), timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    assert run.attrs["eval_rows"] == 12 and run.attrs["problem"] == "torch"
    assert run.attrs["data_kind"] == "cifar10"
    # the loss over the 16 test rows, a finite mean of cross-entropies
    assert np.isfinite(run.eval["test_loss"]).all() and (run.eval["test_loss"] > 0).all()
    assert run.summary["test_loss"] == run.eval["test_loss"][-1]
    # the step size of every round: warm-up over 8 SFO from 0.1 gamma, /10 from SFO 20 on
    sfo_before = run.rounds["sfo_per_worker"] - run.rounds["batch"]
    expected = [
        0.1 * 0.1**int(s >= 20) * (0.1 + 0.9 * min(1.0, s / 8)) for s in sfo_before
    ]  # fmt: skip
    np.testing.assert_allclose(run.rounds["step_size"], expected, rtol=1e-15)


def test_the_stand_in_note_reaches_the_log_and_the_report(tmp_path):
    data = tmp_path / "digits"
    made = run_cli(["digits-cifar10", str(data), "--n-test", "100"])
    assert made.returncode == 0, made.stderr
    again = run_cli(["digits-cifar10", str(data)])
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "pass --overwrite" in again.stderr
    out = tmp_path / "run.h5"
    flags = ["--algo", "psgd", "--batch", "8", "--T", "16", "--gamma", "0.1", "--eval-rows", "50"]
    proc = run_mpi(1, _args(f"cifar10:{data}", out, *flags), timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr
    run = read_run(out)
    assert run.attrs["data_note"].startswith("scikit-learn digits stand-in (not CIFAR-10)")
    info = run_cli(["info", str(out)])
    assert "data_note        scikit-learn digits stand-in (not CIFAR-10)" in info.stdout
    # the data's shape is the images', the parameter count is called what it is
    assert run.attrs["data_shape"][1:] == [3, 32, 32]
    assert run.attrs["model_parameters"] == run.x.size
    assert f"model_parameters {run.x.size}" in info.stdout
    from crpsgd.analysis.report import _data_name

    assert _data_name(run) == "digits [scikit-learn digits stand-in (not CIFAR-10)]"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model", "no_such_pkg.mod:build"], "--model=no_such_pkg.mod:build: cannot import"),
        (["--model", "tests.torch_models:not_a_module"], "torch.nn.Module"),
        (["--model", "tests.torch_models:expects_five_features"], "does not fit the data"),
        (["--micro-batch", "0"], "--micro-batch"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(tmp_path, data, flags, message):
    args = _args(
        data, tmp_path / "bad.h5", "--algo", "psgd", "--batch", "2", "--T", "4", "--gamma", "0.1"
    )
    proc = run_mpi(2, [*args, *flags], timeout=300, env=ENV)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("crpsgd: error:") == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "bad.h5").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: cuda is valid here")
def test_cuda_without_a_gpu_is_one_message(tmp_path, data):
    args = _args(
        data, tmp_path / "bad.h5", "--algo", "psgd", "--batch", "2", "--T", "4", "--gamma", "0.1"
    )
    proc = run_mpi(2, [*args, "--device", "cuda"], timeout=300, env=ENV)
    assert proc.returncode == 2 and proc.stderr.count("crpsgd: error:") == 1
    assert "--device=cuda: no CUDA device" in proc.stderr
