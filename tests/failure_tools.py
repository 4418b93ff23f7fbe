"""Helpers of the failure-class tests: rank processes, one-message checks, file digests,
and a small filesystem in a private mount namespace."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from crpsgd.runlog import read_run
from tests.conftest import ROOT, mpiexec

THROTTLE = {
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1",
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT": "1",
}


def crpsgd_within(args: list[str], limit: float = 60) -> subprocess.CompletedProcess:
    """``python -m crpsgd ARGS`` (one process, no launcher); a run past ``limit`` seconds is
    a hang and fails the test."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "crpsgd", *args],
            capture_output=True,
            text=True,
            timeout=limit,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"crpsgd {' '.join(args)} still running after {limit} s") from None


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digests(*paths: Path) -> dict[str, str]:
    return {str(p): digest(p) for p in paths}


def one_message(stderr: str, expected: str) -> str:
    """The one ``crpsgd:`` line of ``stderr``, which must contain ``expected``; no traceback,
    no numpy warning."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("crpsgd:")]
    assert len(lines) == 1, stderr
    assert expected in lines[0], stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    return lines[0]


def log_keeps_its_rows(path: Path) -> int:
    """The log opens and holds rounds 1..n without a gap; returns n."""
    run = read_run(path)
    n = len(run.rounds["round"])
    np.testing.assert_array_equal(run.rounds["round"], np.arange(1, n + 1))
    return n


def start_job(n: int, args: list[str], env: dict[str, str] | None = None):
    """``mpiexec -n n python -m crpsgd run ARGS`` in the background, marked so that its rank
    processes can be found (:func:`rank_pids`); returns (process, marker)."""
    launcher = mpiexec()
    if launcher is None:
        pytest.skip("no MPI launcher (mpiexec) found")
    marker = uuid.uuid4().hex
    proc = subprocess.Popen(
        [*launcher, "-n", str(n), sys.executable, "-m", "crpsgd", "run", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **THROTTLE, "CRPSGD_TEST_MARK": marker, **(env or {})},
    )
    return proc, marker


def rank_pids(marker: str, n: int, timeout: float = 60) -> dict[int, int]:
    """``{rank: pid}`` of the job's rank processes (Linux ``/proc``; skips elsewhere)."""
    if not Path("/proc/self/environ").exists():
        pytest.skip("needs /proc to find the rank processes")
    deadline = time.monotonic() + timeout
    found: dict[int, int] = {}
    while time.monotonic() < deadline and len(found) < n:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if f"CRPSGD_TEST_MARK={marker}".encode() not in env or b"crpsgd" not in cmd:
                continue
            rank = [v for v in env if v.startswith(b"PMI_RANK=")]
            if rank and b"hydra" not in cmd:
                found.setdefault(int(rank[0].split(b"=")[1]), int(entry))
        time.sleep(0.1)
    assert len(found) == n, f"found ranks {found}"
    return found


def finish(proc: subprocess.Popen, limit: float) -> tuple[int, str, float]:
    """Wait at most ``limit`` seconds for the job; (status, stderr, seconds waited)."""
    start = time.monotonic()
    try:
        _, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        raise AssertionError(f"the job did not end within {limit} s") from None
    return proc.returncode, err, time.monotonic() - start


def namespace_reason() -> str | None:
    """Why a private mount namespace with a small tmpfs is not possible here, or None."""
    if shutil.which("unshare") is None:
        return "unshare(1) not found"
    if os.geteuid() != 0:
        return "needs root for a private mount namespace with a small tmpfs (unshare -m)"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt && umount /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"unshare -m with a tmpfs mount failed here: {probe.stderr.strip()}"
    return None


def in_small_fs(
    mount: Path, size_kib: int, command: list[str], fill_kib: int = 0, ro: bool = False
) -> list[str]:
    """``command`` run in a private mount namespace where ``mount`` is a tmpfs of
    ``size_kib`` KiB (``fill_kib`` of it taken by a filler file; read-only with ``ro``)."""
    mount.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k" + (",ro" if ro else "")
    script = f'mount -t tmpfs -o {options} tmpfs "{mount}"'
    if fill_kib:
        script += f' && dd if=/dev/zero of="{mount}/filler" bs=1k count={fill_kib} 2>/dev/null'
    script += ' && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", *command]


def wait_for_handler(pid: int, sig: int, timeout: float = 60) -> None:
    """Wait until process ``pid`` catches ``sig`` (its handler is installed: a signal sent
    before that would meet the default action, the one window nothing can cover)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            break
        caught = int(
            next(ln for ln in status.splitlines() if ln.startswith("SigCgt:")).split()[1], 16
        )
        if caught >> (sig - 1) & 1:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never installed a handler for signal {sig}")
