"""Shared test helpers: where the real data lives and how to launch MPI jobs."""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def bench_module(name: str) -> ModuleType:
    """A module of the ``bench`` package (``runner.select`` is ``bench.runner.select``)."""
    return importlib.import_module(f"bench.{name}")


def shared_data(name: str) -> Path:
    """A file of the real data sets beside the project; the test is skipped without it."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data file {name} not found beside the project ({SHARED_DATA})")
    return path


@cache
def mpiexec() -> list[str] | None:
    """The launcher and its flags: $CRPSGD_MPIEXEC, else the venv's mpiexec, else PATH.

    Oversubscription is allowed (more ranks than cores): MPICH does it by default, Open MPI
    needs ``--oversubscribe``.
    """
    exe = os.environ.get("CRPSGD_MPIEXEC") or str(Path(sys.executable).parent / "mpiexec")
    if not Path(exe).exists():
        exe = shutil.which("mpiexec") or shutil.which("mpirun")
    if not exe:
        return None
    cmd = [exe, *shlex.split(os.environ.get("CRPSGD_MPIFLAGS", ""))]
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        cmd.append("--oversubscribe")
    return cmd


def run_mpi(
    n: int, args: list[str], timeout: float = 120, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``mpiexec -n n python ARGS`` with a time limit; skips the test without a launcher."""
    launcher = mpiexec()
    if launcher is None:
        pytest.skip("no MPI launcher (mpiexec) found")
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [*launcher, "-n", str(n), sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )


def run_cli(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m crpsgd ARGS`` without a launcher (one rank)."""
    return subprocess.run(
        [sys.executable, "-m", "crpsgd", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def start_mpi(n: int, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """``mpiexec -n n python ARGS`` in the background, in a session of its own (so that
    ``os.killpg(job.pid, SIGKILL)`` kills the whole job); stderr is captured as text.
    ``env`` adds variables to this process's environment."""
    launcher = mpiexec()
    if launcher is None:
        pytest.skip("no MPI launcher (mpiexec) found")
    return subprocess.Popen(
        [*launcher, "-n", str(n), sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def wait_for_rounds(log: Path, rows: int, timeout: float = 90) -> int:
    """Poll a run log that is being written until it holds ``rows`` round rows (or time is
    up); returns the count last seen."""
    from crpsgd.runlog import read_run

    deadline = time.monotonic() + timeout
    seen = 0
    while seen < rows and time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            seen = len(read_run(log).rounds["round"])
        except Exception:  # not created yet, or caught between two flushes
            seen = 0
    return seen
