"""Issue 22, class 11: torch runs are bit for bit: two runs with Dropout are equal (torch's
global generator is seeded per rank from the run's seed), and stop + resume equals the
uninterrupted run with buffers other than BatchNorm's (spectral_norm's, a custom one)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.runlog import read_run  # noqa: E402
from tests.failure_tools import finish, start_job  # noqa: E402

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

FLAGS = ["--problem", "torch", "--data", "synthetic:n=200,d=5", "--algo", "psgd"]
FLAGS += ["--batch", "4", "--T", "40", "--gamma", "0.1", "--quiet", "--eval-rows", "20"]


def _run(args: list[str], env: dict[str, str] | None = None, expected: int = 0) -> None:
    job, _ = start_job(2, args, env=env)
    status, err, _ = finish(job, 120)
    assert status == expected, err


def _model(name: str, out) -> list[str]:
    return [*FLAGS, "--model", f"tests.torch_models:{name}", "--out", str(out)]


def test_two_runs_with_dropout_are_equal(tmp_path):
    """They differed by up to 0.045 (torch's generator was never seeded)."""
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    _run(_model("tabular_dropout", a))
    _run(_model("tabular_dropout", b))
    np.testing.assert_array_equal(read_run(a).x, read_run(b).x)
    np.testing.assert_array_equal(read_run(a).eval["objective"], read_run(b).eval["objective"])


@pytest.mark.parametrize(
    "name", ["tabular_dropout", "tabular_spectral_norm", "tabular_custom_buffer"]
)
def test_stop_and_resume_equals_the_uninterrupted_run(tmp_path, name):
    """spectral_norm (3.2e-3) and a custom buffer (1.5e-8) differed: only BatchNorm's
    buffers were checkpointed."""
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    _run(_model(name, full))
    _run(_model(name, part), env={"CRPSGD_TEST_STOP_AT": "1:round:4"}, expected=75)
    _run(["--resume", str(tmp_path / "part.ckpt.h5")])
    a, b = read_run(full), read_run(part)
    assert a.summary["rounds"] == b.summary["rounds"] == 10
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.eval["objective"], b.eval["objective"])
