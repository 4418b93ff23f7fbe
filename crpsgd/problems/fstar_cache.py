"""A small JSON cache of ``f*``, keyed by the data's content hash.

``--fstar auto`` solves the l2 logistic problem by full-batch Newton (:mod:`crpsgd.problems.
fstar`) once; the value is then stored in a small file and read back by every later run on
the same data. The key is everything the value depends on::

    sha256 of the data bytes (of the canonical spec for synthetic data),
    problem, lambda, n_features, solver and its tolerance, and the number of ranks

(the ranks add their shards' sums in an order that depends on their number, so the same
data solved on 2 and on 4 ranks can differ in the last bit: keying on it keeps a log's
``f*``, and so its suboptimality column, the same whatever was solved before)

Where the file lives:

* by default the user cache directory: ``$CRPSGD_CACHE`` if set, else
  ``$XDG_CACHE_HOME/crpsgd``, else ``~/.cache/crpsgd``, file ``fstar-<sha256 of the data>.json``;
  nothing is ever written beside the data unless asked;
* when asked (``candidate_paths(..., beside_data=True)``): next to the data,
  ``<data file>.fstar.json`` (one file per data file, one entry per key), when that
  directory is writable by its permission bits, else the user cache directory;
* synthetic data has no file, so it always uses the user cache directory.

Reads look in both places (a sidecar written earlier or by a colleague is used). An entry is
used only if it validates: it is a JSON object whose stored key equals the wanted key, whose
value is a finite float, and whose recorded gradient norm meets the tolerance, or, for a solve
that stalled above it (the float64 rounding of a large sum), whose recorded bound on ``f - f*``
is at most ``STALLED_BOUND`` (the value is then as exact as the arithmetic allows, and a
second solve would give the same one). Anything else
(a corrupt, truncated or foreign file) is ignored and the value is solved again; the cache
never makes a run fail.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

#: The solver's name in the key: "newton-fixed-order" since the Newton solve sums in a fixed
#: order (the same bits on every processor); values of the earlier "newton" are not reused.
SOLVER = "newton-fixed-order"
CACHE_VERSION = 1
SIDECAR_SUFFIX = ".fstar.json"


def cache_key(
    data_sha256: str,
    problem: str,
    lam: float,
    n_features: int,
    solver: str,
    tol: float,
    ranks: int = 1,
) -> dict[str, Any]:
    """What an ``f*`` depends on, as a JSON-able dict (floats as their repr)."""
    return {
        "data_sha256": data_sha256,
        "problem": problem,
        "lam": repr(float(lam)),
        "n_features": int(n_features),
        "solver": solver,
        "tol": repr(float(tol)),
        "ranks": int(ranks),
    }


def _key_id(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def user_cache_dir() -> Path:
    """``$CRPSGD_CACHE``, else ``$XDG_CACHE_HOME/crpsgd``, else ``~/.cache/crpsgd``."""
    if os.environ.get("CRPSGD_CACHE"):
        return Path(os.environ["CRPSGD_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crpsgd"


def dir_writable(directory: Path) -> bool:
    """Whether ``directory`` may be written: by ``os.access`` *and* by its permission bits.

    Root passes ``os.access`` on any directory, so a data share marked read-only (mode 555)
    would still be written by root; the bits are checked too, so such a directory counts as
    read-only for everyone.
    """
    try:
        mode = directory.stat().st_mode
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK) and bool(mode & stat.S_IWUSR)


def candidate_paths(
    data_path: str | None, data_sha256: str, beside_data: bool = False
) -> list[Path]:
    """Where to look for and store the entry, in order.

    Default: the user cache file, then the sidecar next to the data file (only looked in).
    ``beside_data=True``: the sidecar first (written when its directory is writable), then
    the user cache file. The sidecar is listed only when ``data_path`` is a file.
    """
    user = user_cache_dir() / f"fstar-{data_sha256}.json"
    if data_path is None or not Path(data_path).is_file():
        return [user]
    sidecar = Path(str(data_path) + SIDECAR_SUFFIX)
    return [sidecar, user] if beside_data else [user, sidecar]


def _read_entries(path: Path) -> dict[str, Any]:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(table, dict) or table.get("version") != CACHE_VERSION:
        return {}
    entries = table.get("entries")
    return entries if isinstance(entries, dict) else {}


STALLED_BOUND = 1e-12  # objective units: f - f* of a stalled solve that is still kept


def acceptable(grad_norm: float, bound: float | None, tol: float) -> bool:
    """Whether a solve is good enough to keep: its gradient norm meets ``tol``, or its bound
    on ``f - f*`` is at most :data:`STALLED_BOUND`."""
    if grad_norm <= tol:
        return True
    return bound is not None and math.isfinite(bound) and 0 <= bound <= STALLED_BOUND


def _valid(entry: Any, key: dict[str, Any]) -> bool:
    if not isinstance(entry, dict) or entry.get("key") != key:
        return False
    value, gnorm = entry.get("value"), entry.get("grad_norm")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if not isinstance(gnorm, (int, float)) or not math.isfinite(gnorm):
        return False
    bound = entry.get("bound")
    bound = float(bound) if isinstance(bound, (int, float)) else None
    return acceptable(float(gnorm), bound, float(key["tol"]))


def lookup(paths: list[Path], key: dict[str, Any]) -> dict[str, Any] | None:
    """The first valid entry for ``key`` in ``paths`` (with ``"path"`` added), or None."""
    for path in paths:
        entry = _read_entries(path).get(_key_id(key))
        if _valid(entry, key):
            return {**entry, "path": str(path)}
    return None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(paths: list[Path], key: dict[str, Any], entry: dict[str, Any]) -> Path | None:
    """Add ``entry`` under ``key`` to the first writable path; returns it (None: none was).

    A sidecar next to the data is written only when it comes first in ``paths`` (as
    :func:`candidate_paths` orders them when asked with ``beside_data=True``) and its
    directory is writable by its permission bits."""
    record = {**entry, "key": key}
    for i, path in enumerate(paths):
        if path.name.endswith(SIDECAR_SUFFIX) and (i > 0 or not dir_writable(path.parent)):
            continue
        entries = _read_entries(path)
        entries[_key_id(key)] = record
        text = json.dumps({"version": CACHE_VERSION, "entries": entries}, indent=1, sort_keys=True)
        try:
            _write_atomic(path, text + "\n")
        except OSError:
            continue
        return path
    return None
