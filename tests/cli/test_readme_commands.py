"""Every ```sh / ```bash block of README.md and of the pages under docs/ runs as written
from the project's root.

Each block runs with ``bash -e`` in a scratch copy of the project root (symlinks to the
checkout's files, so the commands' outputs such as ``runs/`` and ``figs/`` land in the
scratch directory), beside a ``shared/data`` that links to the real data, with the
virtual environment's ``bin`` on ``PATH`` (the README activates it once, in its first quick start).

Budgets are reduced through the test hook ``CRPSGD_TEST_MAX_T`` (every new run's ``--T`` is
at most that), so every page runs in a few minutes; nothing else is changed. A block
preceded by the HTML comment ``<!-- readme-test: skip (REASON) -->`` is not run, and its
reason is checked to be one of :data:`SKIP_REASONS`. The README runs first (its ``make run``
creates the virtual environment and the logs later pages read), then the pages of docs/ in
path order, all in the same scratch directory.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED_DATA, mpiexec

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

MAX_T = "2000"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]*)\)\s*-->")
SKIP_REASONS = (
    "runs the test suite",
    "needs SLURM",
    "needs a site MPI",
    "long run",
    "installs packages",
    "needs a GPU",
)
FENCE = re.compile(r"^```(?P<lang>[A-Za-z]*)\s*$")


def readme_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` of each sh/bash fenced block of ``text``."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group("lang"):
            i += 1
            continue
        start, j = i, i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if m.group("lang") in ("sh", "bash"):
            prev = next((x for x in reversed(lines[:start]) if x.strip()), "")
            skip = SKIP.search(prev)
            blocks.append((start + 1, "\n".join(lines[start + 1 : j]), skip and skip["reason"]))
        i = j + 1
    return blocks


def pages() -> list[Path]:
    """README.md, then every markdown page under docs/ (path order)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def all_blocks() -> list[tuple[str, int, str, str | None]]:
    """``(page relative to the root, line, code, skip reason or None)`` of every page."""
    return [
        (page.relative_to(ROOT).as_posix(), *block)
        for page in pages()
        for block in readme_blocks(page.read_text())
    ]


def test_readme_blocks_are_found_and_every_skip_is_stated():
    text = "a\n<!-- readme-test: skip (long run) -->\n```sh\nmake x\n```\n```sh\necho y\n```\n"
    assert readme_blocks(text) == [(3, "make x", "long run"), (6, "echo y", None)]
    blocks = all_blocks()
    assert sum(page == "README.md" for page, *_ in blocks) >= 4
    assert sum(page.startswith("docs/") for page, *_ in blocks) >= 8
    for page, line, _, reason in blocks:
        assert reason is None or reason in SKIP_REASONS, f"{page}:{line}: skip ({reason})"
    assert sum(reason is None for *_, reason in blocks) >= 6


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("readme")
    proj = base / "crpsgd"
    proj.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("runs", "figs", "site", ".git", ".pytest_cache"):
            (proj / entry.name).symlink_to(entry)
    (base / "shared").mkdir()
    if SHARED_DATA.is_dir():
        (base / "shared" / "data").symlink_to(SHARED_DATA)
    return proj


BLOCKS = [b for b in all_blocks() if b[3] is None]


@pytest.mark.parametrize(
    "page,line,code", [b[:3] for b in BLOCKS], ids=[f"{b[0]}:L{b[1]}" for b in BLOCKS]
)
def test_readme_block_runs_as_written(scratch, page, line, code):
    if mpiexec() is None:
        pytest.skip("no MPI launcher (mpiexec) found")
    if "../shared/data" in code and not SHARED_DATA.is_dir():
        pytest.skip(f"{page}:{line} needs the real data in {SHARED_DATA}")
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "CRPSGD_TEST_MAX_T": MAX_T,
        "CRPSGD_CACHE": str(scratch.parent / "cache"),
    }
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"{page}:{line}\n{code}\n--- stderr\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
