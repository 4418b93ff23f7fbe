"""``crpsgd run``: wires configuration, data, problem, algorithm and log on every rank.

Every step that can fail on bad input runs on all ranks and ends with a collective
agreement (:meth:`Communicator.raise_if_any`), so a mistake found by any rank makes every
rank leave with the same :class:`UsageError`, and rank 0 prints it once. Nothing is written
before the input has been checked.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from crpsgd import __version__
from crpsgd.algorithms.catalyst import CatalystPlan, catalyst, catalyst_plan, check_plan
from crpsgd.algorithms.control import Resume, RunControl, stop_on_signals
from crpsgd.algorithms.local_sgd import auto_period, local_sgd
from crpsgd.algorithms.parallel_sgd import RunResult, parallel_sgd
from crpsgd.checkpoint import Checkpoint, checkpoint_path_for, read_checkpoint, restore_rng
from crpsgd.comm import Communicator, FailureWatch, mpi_library_version
from crpsgd.config import PARAMS_BY_NAME, RESUME_OVERRIDES, convert, merge
from crpsgd.data.dataset import Dataset
from crpsgd.data.loader import data_identity, load_shard
from crpsgd.errors import (
    AllRanksError,
    DivergenceError,
    Preempted,
    UsageError,
    describe_failure,
)
from crpsgd.evaluation import Evaluation, Evaluator, global_smoothness
from crpsgd.limits import check_model_size
from crpsgd.outputs import GuardedLog
from crpsgd.paths import check_run_paths, early_inputs
from crpsgd.problems import fstar_cache
from crpsgd.problems.base import Problem
from crpsgd.problems.fstar import newton_fstar
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.problems.nonconvex import NonconvexLogisticRegression, TwoLayerNetwork
from crpsgd.resume_check import check_resume_flags, input_identities, new_run_id, verify_resume
from crpsgd.rng import worker_rng
from crpsgd.runlog import NullRunLog, RunLog
from crpsgd.schedules import ConstantBatch, ExponentialBatch

FSTAR_TOL = 1e-10  # ||grad f|| at which the Newton solve for --fstar auto stops


def _agree(comm: Communicator, step: Any, *args: Any) -> Any:
    """Run ``step(*args)`` on every rank; if it raised on any rank, raise on all."""
    try:
        result, error = step(*args), None
    except (UsageError, OSError) as exc:
        result, error = None, exc if isinstance(exc, UsageError) else UsageError(str(exc))
    comm.raise_if_any(error)
    return result


def default_out(cfg: dict[str, Any], n_workers: int) -> str:
    return f"runs/{cfg['algo']}-N{n_workers}-seed{cfg['seed']}.h5"


def _load(cfg: dict[str, Any], comm: Communicator) -> tuple[Dataset, int, Dataset | None]:
    shard, n_total = load_shard(cfg["data"], comm.rank, comm.size, cfg["n_features"], cfg["dense"])
    test = None
    if cfg["test_data"] is not None:
        test, _ = load_shard(
            cfg["test_data"],
            comm.rank,
            comm.size,
            cfg["n_features"] or shard.n_features,
            cfg["dense"],
        )
        if test.n_features != shard.n_features:
            raise UsageError(
                f"--test-data={cfg['test_data']}: {test.n_features} features but the training "
                f"data has {shard.n_features} (pass --n-features to fix the width)"
            )
    return shard, n_total, test


def _check_out(path: Path, overwrite: bool, comm: Communicator) -> None:
    if comm.is_root and path.exists() and not overwrite:
        raise UsageError(f"--out={path}: file exists (pass --overwrite to replace it)")


def run_from_cli(cli_values: dict[str, Any], comm: Communicator | None = None) -> RunResult:
    """Execute ``crpsgd run`` with the parsed flags on every rank of ``comm``."""
    comm = comm if comm is not None else Communicator()
    _agree(comm, early_inputs, cli_values)  # issue 13: --config/--resume are regular files
    ckpt = None
    if cli_values.get("resume"):
        ckpt = _agree(comm, _read_resume, cli_values, comm.size)
        cfg = ckpt.config
        out = Path(cfg["out"])
    else:
        cfg = _agree(
            comm,
            merge,
            {k: v for k, v in cli_values.items() if k not in ("config", "resume")},
            cli_values.get("config"),
        )
        out = Path(cfg["out"] or default_out(cfg, comm.size))
        cfg["out"] = str(out)
        _agree(comm, _check_out, out, cfg["overwrite"], comm)
    # issue 13: inputs regular, outputs writable, no output names an input or the other output
    _agree(comm, check_run_paths, cfg, out, cli_values.get("resume"), comm.is_root)
    if ckpt is not None:  # issue 13: the checkpoint's log and data are the ones it was made with
        _agree(comm, verify_resume, ckpt, cli_values["resume"], comm.is_root)
    run_id = ckpt.run_id if ckpt is not None else new_run_id()
    inputs = ckpt.inputs if ckpt is not None else _agree(comm, input_identities, cfg, comm.is_root)
    shard, n_total, test = _agree(comm, _load, cfg, comm)
    _agree(comm, check_model_size, cfg, shard.n_features)  # issue 13: memory-sane model

    problem = _make_problem(cfg, shard, n_total)
    if problem.smoothness_known:
        smoothness, smoothness_bound = global_smoothness(problem, comm)
    else:
        smoothness, smoothness_bound = math.nan, "unknown"
    theta = 2.0 * smoothness if cfg["theta"] == "auto" else cfg["theta"]
    gamma = _step_size(cfg, smoothness, theta)
    plan = _agree(comm, _algorithm_plan, cfg, comm.size)
    f_star, f_star_note = _f_star(cfg, problem, comm)

    if ckpt is not None:  # the values the interrupted run used, bit for bit
        gamma, theta = ckpt.state["gamma"], ckpt.state["theta"]
        log = _agree(comm, _resume_log, comm, out, ckpt.rounds)
    else:
        log = None
    log = log or _agree(
        comm,
        _open_log,
        cfg,
        comm,
        out,
        n_total,
        shard.n_features,
        (smoothness, smoothness_bound),
        gamma,
        f_star,
        f_star_note,
        run_id,
    )
    log = GuardedLog(log, out)  # issue 13: a write failure is one OutputError naming --out
    evaluator = Evaluator(problem, comm, f_star, test)
    ckpt_path = Path(cfg["checkpoint"]) if cfg["checkpoint"] else checkpoint_path_for(out)
    control = RunControl(
        comm,
        ckpt_path,
        cfg["checkpoint_every"],
        cfg["check_sync"],
        header={
            "config": cfg,
            "algorithm": cfg["algo"],
            "log_path": str(out),
            "run_id": run_id,  # issue 13
            "inputs": inputs,  # issue 13
            "extra": {"gamma": gamma, "theta": theta},
        },
        start_rounds=ckpt.rounds if ckpt is not None else 0,
        log=log,
    )
    if ckpt is not None:
        rng = restore_rng(ckpt.rng_states[comm.rank])
        resume = Resume.from_checkpoint(ckpt)
    else:
        rng, resume = worker_rng(cfg["seed"], comm.rank), None
    try:
        with FailureWatch(comm, lambda rank, message: log.close(f"failed: {message}")):
            with stop_on_signals(comm):
                result = _execute(
                    cfg, problem, comm, gamma, evaluator, log, theta, plan, rng, control, resume
                )
    except Preempted as exc:
        log.close(f"preempted: stopped after round {exc.rounds}, checkpoint {exc.path}")
        raise
    except DivergenceError as exc:
        exc.args = (
            f"{exc}; last finite objective {evaluator.last_finite_objective:.8g} at round "
            f"{evaluator.last_finite_round}; the step size --gamma={gamma:.6g} is probably "
            "too large for this problem and batch: try a smaller one",
        )
        log.close(f"failed: {exc}")
        raise
    except AllRanksError as exc:
        log.close(f"failed: {exc}")
        raise
    except BaseException as exc:
        log.close(f"failed: rank {comm.rank}: {describe_failure(exc)}")  # issue 13
        raise
    if comm.is_root and ckpt_path.exists():
        ckpt_path.unlink()  # the run is complete: nothing is left to resume
    summary = {
        "rounds": result.rounds,
        "sfo_per_worker": result.sfo_per_worker,
        "sfo_total": result.sfo_per_worker * comm.size,
        "objective": result.final.objective,
        "grad_norm_sq": result.final.grad_norm_sq,
        "suboptimality": result.final.suboptimality,
        "test_accuracy": result.final.test_accuracy,
        "wall_s": result.wall_s,
        "compute_s": result.compute_s,
        "comm_s": result.comm_s,
        "eval_s": result.eval_s,
        "comm_bytes": comm.stats.round_bytes,
        "eval_collectives": comm.stats.eval_calls,
    }
    log.finish(result.x, summary)
    if comm.is_root:
        sub = result.final.suboptimality
        print(
            f"{cfg['algo']}: {result.rounds} rounds, SFO/worker {result.sfo_per_worker} of "
            f"{cfg['T']}, f={result.final.objective:.8g}"
            + (f", f-f*={sub:.3e}" if sub == sub else "")
            + f", {result.wall_s:.2f} s -> {out}",
            flush=True,
        )
    return result


def _read_resume(cli_values: dict[str, Any], n_workers: int) -> Checkpoint:
    """The checkpoint of ``--resume`` with the few flags a resumed run may change applied."""
    ckpt = read_checkpoint(cli_values["resume"])
    check_resume_flags(cli_values, ckpt.config)  # issue 13: a flag equal to the old value is fine
    if ckpt.n_workers != n_workers:
        raise UsageError(
            f"--resume={cli_values['resume']}: written by a run on {ckpt.n_workers} ranks; "
            f"resume it on {ckpt.n_workers} ranks, not {n_workers} (the random streams and "
            "data shards depend on the rank count)"
        )
    for key in RESUME_OVERRIDES:
        if cli_values.get(key) is not None:
            ckpt.config[key] = convert(PARAMS_BY_NAME[key], cli_values[key], "command line")
    return ckpt


def _resume_log(comm: Communicator, out: Path, rounds: int) -> RunLog | NullRunLog:
    return RunLog.resume(out, rounds) if comm.is_root else NullRunLog()


def _f_star(
    cfg: dict[str, Any], problem: LogisticRegression, comm: Communicator
) -> tuple[float | None, str]:
    if cfg["fstar"] == "none":
        return None, "unknown"
    if cfg["fstar"] == "auto":
        return _f_star_cached(cfg, problem, comm)
    return float(cfg["fstar"]), "given"


def _f_star_cached(
    cfg: dict[str, Any], problem: LogisticRegression, comm: Communicator
) -> tuple[float, str]:
    """``--fstar auto``: the cached Newton solution for this data and lambda, else solve and
    store it (rank 0 reads and writes the cache; see :mod:`crpsgd.problems.fstar_cache`)."""
    hit = paths = key = None
    if comm.is_root:
        try:
            ident = data_identity(cfg["data"])
            key = fstar_cache.cache_key(
                ident["sha256"], cfg["problem"], problem.lam, problem.dim, "newton", FSTAR_TOL
            )
            data_file = None if ident["kind"] == "synthetic" else cfg["data"]
            paths = fstar_cache.candidate_paths(data_file, ident["sha256"])
            hit = fstar_cache.lookup(paths, key)
        except (OSError, UsageError):
            paths = None
    hit = comm.bcast(hit)
    if hit is not None:
        return float(hit["value"]), f"cached {hit['path']}: {hit['note']}"
    solved = _agree(comm, newton_fstar, problem, comm, FSTAR_TOL)
    note = (
        f"Newton, {solved.iterations} iterations, ||grad f||="
        f"{solved.grad_norm:.2e}, f-f* <= {solved.bound:.1e}"
    )
    if comm.is_root and paths is not None and solved.grad_norm <= FSTAR_TOL:
        entry = {"value": solved.value, "grad_norm": solved.grad_norm, "note": note}
        fstar_cache.store(paths, key, entry)
    return solved.value, note


def _open_log(
    cfg: dict[str, Any],
    comm: Communicator,
    out: Path,
    n_total: int,
    d: int,
    smoothness_and_bound: tuple[float, str],
    gamma: float,
    f_star: float | None,
    f_star_note: str,
    run_id: str = "",
) -> RunLog | NullRunLog:
    """Rank 0 creates the log with every root attribute; other ranks hold a null log."""
    if not comm.is_root:
        return NullRunLog()
    smoothness, smoothness_bound = smoothness_and_bound
    ident = data_identity(cfg["data"])
    attrs = {
        "crpsgd_version": __version__,
        "algorithm": cfg["algo"],
        "problem": cfg["problem"],
        "config": json.dumps(cfg, sort_keys=True),
        "n_workers": comm.size,
        "seed": cfg["seed"],
        "data_path": ident["path"],
        "data_kind": ident["kind"],
        "data_shape": (n_total, d),
        "data_sha256": ident["sha256"],
        "mpi_library": mpi_library_version(),
        "smoothness_L": smoothness,
        "smoothness_bound": smoothness_bound,
        "step_size": gamma,
        "f_star": np.nan if f_star is None else f_star,
        "f_star_source": f_star_note,
        "command": " ".join(sys.argv),
        "run_id": run_id,  # issue 13: which run the log belongs to (checked at --resume)
    }
    if cfg["test_data"] is not None:
        test_ident = data_identity(cfg["test_data"])
        attrs.update(test_data_path=test_ident["path"], test_data_sha256=test_ident["sha256"])
    return RunLog(out, attrs, overwrite=cfg["overwrite"])


def _make_problem(cfg: dict[str, Any], shard: Dataset, n_total: int) -> Problem:
    if cfg["problem"] == "logreg-nonconvex":
        return NonconvexLogisticRegression(shard, n_total, cfg["lam"], cfg["alpha"])
    if cfg["problem"] == "mlp":
        return TwoLayerNetwork(shard, n_total, cfg["hidden"], cfg["lam"])
    return LogisticRegression(shard, n_total, cfg["lam"])


def _step_size(cfg: dict[str, Any], smoothness: float, theta: float) -> float:
    """``--gamma``, or for ``auto``: ``1/(L + theta)`` for Catalyst's inner runs, else ``1/L``.
    (``auto`` with an unknown ``L`` is rejected by the configuration check.)"""
    if cfg["gamma"] != "auto":
        return cfg["gamma"]
    if cfg["algo"] == "cr-psgd-catalyst":
        return 1.0 / (smoothness + theta)
    return 1.0 / smoothness


def _algorithm_plan(cfg: dict[str, Any], n_workers: int) -> CatalystPlan | int | None:
    """What depends on the rank count: Catalyst's ``K`` and inner budget (checked to fit
    ``--b1``), or Local SGD's period ``H``."""
    if cfg["algo"] == "cr-psgd-catalyst":
        outer = None if cfg["outer"] == "auto" else cfg["outer"]
        plan = catalyst_plan(cfg["T"], n_workers, outer)
        check_plan(plan, cfg["b1"], cfg["T"], n_workers)
        return plan
    if cfg["algo"] == "local-sgd":
        if cfg["period"] == "auto":
            return auto_period(cfg["period_rule"], cfg["T"], cfg["batch"], n_workers)
        return cfg["period"]
    return None


def _execute(
    cfg: dict[str, Any],
    problem: Problem,
    comm: Communicator,
    gamma: float,
    evaluator: Evaluator,
    log: RunLog | NullRunLog,
    theta: float | None = None,
    plan: CatalystPlan | int | None = None,
    rng: np.random.Generator | None = None,
    control: RunControl | None = None,
    resume: Resume | None = None,
) -> RunResult:
    if cfg["algo"] in ("cr-psgd", "cr-psgd-catalyst"):
        schedule = ExponentialBatch(cfg["b1"], cfg["rho"])
    else:
        schedule = ConstantBatch(cfg["batch"])
    progress = None if cfg["quiet"] or not comm.is_root else _progress_printer(cfg["T"])
    x0 = problem.initial_point(cfg["seed"])
    rng = rng if rng is not None else worker_rng(cfg["seed"], comm.rank)
    common = {
        "eval_factor": cfg["eval_factor"],
        "progress": progress,
        "control": control,
        "resume": resume,
    }
    if cfg["algo"] == "cr-psgd-catalyst":
        return catalyst(
            problem, comm, schedule, plan, theta, gamma, x0, rng, evaluator, log, **common
        )
    if cfg["algo"] == "local-sgd":
        log.set_attrs(
            period=plan, period_rule=cfg["period_rule"] if cfg["period"] == "auto" else "given"
        )
        return local_sgd(
            problem, comm, cfg["batch"], plan, cfg["T"], gamma, x0, rng, evaluator, log, **common
        )
    return parallel_sgd(problem, comm, schedule, cfg["T"], gamma, x0, rng, evaluator, log, **common)


def _progress_printer(budget: int):
    def show(rounds: int, batch: int, sfo: int, ev: Evaluation, wall: float) -> None:
        sub = f"  f-f* {ev.suboptimality:.3e}" if ev.suboptimality == ev.suboptimality else ""
        print(
            f"round {rounds:7d}  batch {batch:8d}  SFO {sfo:>10d}/{budget} "
            f"({100.0 * sfo / budget:5.1f}%)  f {ev.objective:.8g}{sub}  "
            f"||grad||^2 {ev.grad_norm_sq:.3e}  {wall:8.2f} s",
            flush=True,
        )

    return show
