"""``make install EXTRAS=...`` after ``make run`` installs the extras it names, in a fresh
virtual environment (the stamp used to ignore ``EXTRAS``: "Nothing to be done for
'install'", and no torch). Slow: a fresh install from pip's cache and the first kernel
compilation, a few minutes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

FILES = ("Makefile", "setup.cfg", "pyproject.toml", "README.md")


def _checkout(dst: Path) -> Path:
    """The files an install needs (no caches: the kernels compile afresh, as on a clone)."""
    dst.mkdir()
    for name in FILES:
        shutil.copy2(ROOT / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.egg-info")
    shutil.copytree(ROOT / "crpsgd", dst / "crpsgd", ignore=ignore)
    return dst


def _env() -> dict[str, str]:
    """This environment without the test's own virtual environment and package path."""
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRPSGD_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != bin_dir)
    return env


def _make(clone: Path, *args: str) -> subprocess.CompletedProcess:
    python = getattr(sys, "_base_executable", sys.executable)
    cmd = ["make", "-C", str(clone), f"PYTHON={python}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1500, env=_env())


def _imports_torch(clone: Path) -> subprocess.CompletedProcess:
    python = clone / ".venv" / "bin" / "python"
    cmd = [str(python), "-c", "import torch; print(torch.__version__)"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=clone, env=_env())


def test_make_install_with_the_torch_extra_after_make_run(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make not found")
    clone = _checkout(tmp_path / "clone")
    first = _make(clone, "run", "NP=2")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    # the first start says that it compiles, once, before the first run
    assert first.stdout.count("compiling kernels (first run only") == 1, first.stdout
    assert "cr-psgd(B1=8,rho=1.5)" in first.stdout
    assert _imports_torch(clone).returncode != 0, "torch came with the default extras"
    second = _make(clone, "install", "EXTRAS=mpich,test,torch")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Nothing to be done" not in second.stdout
    torch = _imports_torch(clone)
    assert torch.returncode == 0, torch.stderr[-2000:]
    stamp = (clone / ".venv" / ".installed-stamp").read_text().split()
    assert stamp == ["mpich", "test", "torch"]
    # a second start is warm: no compile note
    again = _make(clone, "run", "NP=2")
    assert again.returncode == 0 and "compiling kernels" not in again.stdout
