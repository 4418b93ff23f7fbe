"""The unit ``L`` a problem's step-size grid is written in (collective: every rank calls it).

* ``bound``: the smoothness bound that ``crpsgd run --gamma auto`` uses. It is read from the
  log of a one-round probe run through :func:`crpsgd.session.run.run_from_cli`, so it is the command
  line's own value, bit for bit, whatever problem the run parameters name.
* ``estimate`` (a problem without a bound, e.g. the network): the largest ``|eigenvalue|`` of
  the Hessian at the initial point, by power iteration on central finite differences of the
  full gradient, ``H v ~ (grad f(x + e v) - grad f(x - e v)) / (2 e)``. An estimate that only
  places the grid, not a bound.
* ``absolute``: ``L = 1``, the grid's values are the step sizes themselves (a torch model,
  whose step sizes are given as in its literature; no probe run).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def probe(run: dict[str, Any], comm) -> tuple[dict[str, Any], float]:
    """The validated configuration (with every default) and ``L`` of a one-round run of
    ``run``'s problem (``nan`` when the problem has no bound)."""
    from crpsgd.comm.communicator import Communicator
    from crpsgd.runlog import read_run
    from crpsgd.session.run import run_from_cli

    tmp = comm.bcast(tempfile.mkdtemp(prefix="crpsgd-probe-") if comm.is_root else None)
    log = Path(tmp) / "probe.h5"
    flags = {k: str(v) for k, v in run.items() if k not in ("test_data",)}
    flags.update(algo="psgd", batch="1", T="1", gamma="1", fstar="none", out=str(log))
    flags.update(overwrite=True, quiet=True)
    run_from_cli(flags, Communicator())
    found = None
    if comm.is_root:
        rec = read_run(log)
        found = (json.loads(rec.attrs["config"]), float(rec.attrs["smoothness_L"]))
        log.unlink()
        Path(tmp).rmdir()
    return comm.bcast(found)


def full_gradient(problem, comm, x: np.ndarray) -> np.ndarray:
    """``grad f(x)`` over all ranks (one evaluation collective)."""
    grad = np.empty(problem.dim)
    problem.local_sums(x, grad)
    comm.eval_allreduce_sum_(grad)
    grad /= problem.n_total
    problem.regulariser(x, grad)
    return grad


def hessian_power_estimate(problem, comm, x: np.ndarray, iters: int = 30) -> float:
    """Largest ``|eigenvalue|`` of the Hessian at ``x`` (see the module docstring)."""
    v = np.random.default_rng(12345).standard_normal(problem.dim)
    v /= np.linalg.norm(v)
    eps = 1e-5 * max(1.0, float(np.linalg.norm(x)))
    value = 0.0
    for _ in range(iters):
        hv = full_gradient(problem, comm, x + eps * v) - full_gradient(problem, comm, x - eps * v)
        hv /= 2 * eps
        value = float(np.linalg.norm(hv))
        v = hv / value
    return value


def _problem_from_config(cfg: dict[str, Any], comm):
    """This rank's problem object of a validated configuration (only ``estimate`` needs one)."""
    from crpsgd.data.loader import load_shard
    from crpsgd.problems.logreg import LogisticRegression
    from crpsgd.problems.nonconvex import NonconvexLogisticRegression, TwoLayerNetwork

    shard, n = load_shard(cfg["data"], comm.rank, comm.size, cfg["n_features"], cfg["dense"])
    if cfg["problem"] == "mlp":
        return TwoLayerNetwork(shard, n, cfg["hidden"], cfg["lam"])
    if cfg["problem"] == "logreg-nonconvex":
        return NonconvexLogisticRegression(shard, n, cfg["lam"], cfg["alpha"])
    return LogisticRegression(shard, n, cfg["lam"])


def unit_L(problem_def: dict[str, Any], run: dict[str, Any], comm) -> float:
    """``L`` of ``problem_def``'s ``unit`` (``bound`` unless it says ``estimate`` or
    ``absolute``)."""
    unit = problem_def.get("unit", "bound")
    if unit == "absolute":
        return 1.0
    cfg, bound = probe(run, comm)
    if unit == "estimate":
        problem = _problem_from_config(cfg, comm)
        return hessian_power_estimate(problem, comm, problem.initial_point(cfg["seed"]))
    if not math.isfinite(bound):
        from crpsgd.errors import UsageError

        raise UsageError(
            f"problem {problem_def.get('name')}: unit = 'bound', but its problem has no "
            "smoothness bound: use unit = 'estimate'"
        )
    return bound
