"""``bench/gpu_check.py`` and ``bench/gpu_check.sh`` on the CPU, tiny: the measurement runs
both loops and reports their samples/s and ratio; the script is valid shell. (On a GPU the
script itself runs them at size.)"""

import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from bench.gpu_check import measure  # noqa: E402
from tests.cifar_files import write_random_cifar  # noqa: E402
from tests.conftest import ROOT  # noqa: E402


def test_the_measurement_reports_both_loops_and_their_ratio(tmp_path):
    write_random_cifar(tmp_path, rows=(6, 6, 6, 6, 6), test_rows=3)
    result = measure(f"cifar10:{tmp_path}", "cpu", 4, 1, 2, "off", "mpi")
    assert result["batch"] == 4 and result["blocks"] == 2 and result["backend"] == "mpi"
    assert result["crpsgd_samples_per_s"] > 0 and result["bare_samples_per_s"] > 0
    ratio = result["crpsgd_samples_per_s"] / result["bare_samples_per_s"]
    assert result["ratio"] == pytest.approx(ratio)
    assert result["data_on_device"] and result["device"] == "cpu"


def test_the_script_is_valid_shell_and_refuses_without_a_gpu(tmp_path):
    script = ROOT / "bench" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the script would run at size")
    proc = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHON": sys.executable,
            "OUT": str(tmp_path / "o"),
            "WORK": str(tmp_path / "w"),
        },
        timeout=120,
    )
    assert proc.returncode == 1
    assert "gpu_check: no CUDA GPU here (DEVICE=cpu runs the script on the CPU)" in proc.stderr
