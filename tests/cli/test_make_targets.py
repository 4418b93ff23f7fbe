"""The Makefile's install stamp honours ``EXTRAS``; ``make run`` says when it compiles kernels
and why its demo's rho warning does not matter (``make -n``: nothing is installed or run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from crpsgd.session import kernel_cache
from tests.conftest import ROOT


@pytest.fixture
def project(tmp_path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make not found")
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to("/bin/true")
    return tmp_path


def _dry(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["make", "-n", "-C", str(project), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _stamp(project: Path, text: str) -> None:
    stamp = project / ".venv" / ".installed-stamp"
    stamp.write_text(text)
    later = time.time() + 5  # newer than setup.cfg and pyproject.toml
    os.utime(stamp, (later, later))


def test_install_reinstalls_when_extras_name_one_the_stamp_lacks(project):
    """Seen failing before: the stamp ignored EXTRAS ("Nothing to be done for 'install'")."""
    _stamp(project, "mpich test\n")
    assert "pip install" not in _dry(project, "install")
    out = _dry(project, "install", "EXTRAS=mpich,test,torch")
    assert "pip install -q -e '.[mpich,test,torch]'" in out
    assert "echo mpich test torch > .venv/.installed-stamp" in out
    _stamp(project, "mpich test torch\n")
    assert "pip install" not in _dry(project, "install", "EXTRAS=mpich,test,torch")
    assert "pip install" not in _dry(project, "install")  # a subset is installed already


def test_a_stamp_from_before_counts_as_the_default_extras(project):
    _stamp(project, "")
    assert "pip install" not in _dry(project, "install")
    assert "pip install" in _dry(project, "install", "EXTRAS=mpich,test,torch")


def test_make_run_announces_a_cold_compile_and_explains_the_rho_warning(project):
    _stamp(project, "mpich test\n")
    lines = _dry(project, "run").splitlines()
    first_run = next(i for i, line in enumerate(lines) if "crpsgd run" in line)
    assert any("-m crpsgd.session.kernel_cache" in line for line in lines[:first_run])
    note = next(i for i, line in enumerate(lines) if "the rho warning is expected" in line)
    assert first_run < note < next(i for i, ln in enumerate(lines) if "--algo psgd" in ln)


def test_kernel_cache_is_cold_until_an_index_is_as_new_as_its_source(tmp_path):
    source = tmp_path / "k.py"
    source.write_text("import numba\n\n@numba.njit(cache=True)\ndef f():\n    return 1\n")
    assert kernel_cache.kernel_sources(tmp_path) == [source]
    assert kernel_cache.cold([source], cache_dir="")
    index = tmp_path / "__pycache__" / "k.f-3.py311.nbi"
    index.parent.mkdir()
    index.write_bytes(b"")
    assert not kernel_cache.cold([source], cache_dir="")
    later = time.time() + 5
    os.utime(source, (later, later))  # the source changed since: compiles again
    assert kernel_cache.cold([source], cache_dir="")
    elsewhere = tmp_path / "numba-cache"
    assert kernel_cache.cold([source], cache_dir=str(elsewhere))
    (elsewhere / "x").mkdir(parents=True)
    (elsewhere / "x" / "k.f-3.py311.nbi").write_bytes(b"")
    os.utime(elsewhere / "x" / "k.f-3.py311.nbi", (later + 1, later + 1))
    assert not kernel_cache.cold([source], cache_dir=str(elsewhere))
