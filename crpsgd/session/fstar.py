"""``--fstar``: a given number, none, or ``auto`` (the cached distributed Newton solution)."""

from __future__ import annotations

import math
from typing import Any

from crpsgd.comm.communicator import Communicator
from crpsgd.data.loader import data_identity
from crpsgd.errors import UsageError
from crpsgd.problems import fstar_cache
from crpsgd.problems.base import Problem
from crpsgd.problems.fstar import newton_fstar
from crpsgd.session.setup import agree

FSTAR_TOL = 1e-10  # ||grad f|| at which the Newton solve for --fstar auto stops


def f_star(cfg: dict[str, Any], problem: Problem, comm: Communicator) -> tuple[float | None, str]:
    """``f*`` for the suboptimality column and where it came from (collective for ``auto``)."""
    if cfg["fstar"] == "none":
        return None, "unknown"
    if cfg["fstar"] == "auto":
        return _f_star_cached(cfg, problem, comm)
    return float(cfg["fstar"]), "given"


def _f_star_cached(cfg: dict[str, Any], problem: Problem, comm: Communicator) -> tuple[float, str]:
    """``--fstar auto``: the cached Newton solution for this data and lambda, else solve and
    store it (rank 0 reads and writes the cache; see :mod:`crpsgd.problems.fstar_cache`)."""
    hit = paths = key = None
    if comm.is_root:
        try:
            ident = data_identity(cfg["data"])
            key = fstar_cache.cache_key(
                ident["sha256"],
                cfg["problem"],
                problem.lam,
                problem.dim,
                fstar_cache.SOLVER,
                FSTAR_TOL,
                ranks=comm.size,
            )
            data_file = None if ident["kind"] == "synthetic" else cfg["data"]
            paths = fstar_cache.candidate_paths(
                data_file, ident["sha256"], beside_data=cfg["fstar_cache"] == "beside-data"
            )
            hit = fstar_cache.lookup(paths, key)
        except (OSError, UsageError):
            paths = None
    hit = comm.bcast(hit)
    if hit is not None:
        return float(hit["value"]), f"cached {hit['path']}: {hit['note']}"
    solved = agree(comm, newton_fstar, problem, comm, FSTAR_TOL)
    note = (
        f"Newton, {solved.iterations} iterations, ||grad f||="
        f"{solved.grad_norm:.2e}, f-f* <= {solved.bound:.1e}"
    )
    kept = math.isfinite(solved.value) and fstar_cache.acceptable(
        solved.grad_norm, solved.bound, FSTAR_TOL
    )
    if comm.is_root and paths is not None and kept:
        entry = {"value": solved.value, "grad_norm": solved.grad_norm, "bound": solved.bound}
        entry["note"] = note
        fstar_cache.store(paths, key, entry)
    return solved.value, note
