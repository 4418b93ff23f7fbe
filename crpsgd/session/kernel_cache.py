"""Whether Numba's on-disk cache of the package's kernels is cold (a fresh checkout, or a
new interpreter): ``python -m crpsgd.session.kernel_cache`` prints one line saying that the first
start compiles them, and nothing when some compiled kernel is cached already. ``make run``
calls it before its first run (the compilation takes about a minute on 2 cores).

A kernel module is one whose source calls ``numba.njit``; its cache is an index file
``<module>.<function>-<line>.py<ver>.nbi`` in ``__pycache__`` beside it (or under
``$NUMBA_CACHE_DIR``), valid when not older than the source.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # crpsgd/
NOTE = "compiling kernels (first run only, about 1 min); the next start is quick"


def kernel_sources(root: Path = PACKAGE) -> list[Path]:
    """The package's modules with cached Numba functions."""
    return [p for p in sorted(root.rglob("*.py")) if "numba.njit" in p.read_text("utf-8")]


def _indexes(source: Path, cache_dir: str | None) -> Iterable[Path]:
    """Numba's index files of ``source``: under ``cache_dir`` when given (Numba then uses
    only that), else in ``__pycache__`` beside it."""
    if cache_dir:
        yield from Path(cache_dir).rglob(f"{source.stem}.*.nbi")
    else:
        yield from (source.parent / "__pycache__").glob(f"{source.stem}.*.nbi")


def cold(sources: Iterable[Path] | None = None, cache_dir: str | None = None) -> bool:
    """True when no kernel module has a cached compilation at least as new as its source."""
    cache_dir = cache_dir if cache_dir is not None else os.environ.get("NUMBA_CACHE_DIR")
    for source in kernel_sources() if sources is None else sources:
        stamp = source.stat().st_mtime
        if any(index.stat().st_mtime >= stamp for index in _indexes(source, cache_dir)):
            return False
    return True


if __name__ == "__main__":
    if cold():
        print(NOTE, flush=True)
