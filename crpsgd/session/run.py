"""``crpsgd run``: wires configuration, data, problem, algorithm and log on every rank.

The problem, the algorithm and the batch schedule are registered parts
(:mod:`crpsgd.registry.parts`): this module asks the selected ones for their data, their object,
their plan for ``N`` ranks, their ``gamma auto`` and their loop, and never names one. Every step
that can fail on bad input runs on all ranks and ends with a collective agreement
(:meth:`Communicator.raise_if_any`), so a mistake found by any rank makes every rank leave
with the same :class:`UsageError`, and rank 0 prints it once. Nothing is written before the
input has been checked.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from crpsgd.algorithms.control import Resume, RunControl, stop_on_signals
from crpsgd.algorithms.evaluation import Evaluation, Evaluator, global_smoothness
from crpsgd.algorithms.parallel_sgd import RunResult
from crpsgd.comm.communicator import Communicator
from crpsgd.comm.failures import FailureWatch
from crpsgd.data.rng import worker_rng
from crpsgd.errors import AllRanksError, DivergenceError, Preempted, describe_failure
from crpsgd.files.checkpoint import checkpoint_path_for, restore_rng
from crpsgd.files.outputs import GuardedLog
from crpsgd.files.paths import early_inputs
from crpsgd.params.limits import check_model_size
from crpsgd.problems.base import Problem
from crpsgd.registry import parts
from crpsgd.registry.config import merge
from crpsgd.schedules.step_size import step_size_from_config
from crpsgd.session.backend import communicator_for, first_communicator
from crpsgd.session.fstar import f_star as resolve_f_star
from crpsgd.session.replicas import check_same_start
from crpsgd.session.resume_check import check_identity, input_identities, new_run_id, verify_resume
from crpsgd.session.run_paths import check_run_paths
from crpsgd.session.setup import agree, check_out, default_out, open_log, read_resume, resume_log


def run_from_cli(
    cli_values: dict[str, Any], comm: Communicator | None = None, command_line: bool = False
) -> RunResult:
    """Execute ``crpsgd run`` with the parsed flags on every rank of ``comm``.

    ``command_line=True`` (the CLI): ``cli_values`` are what the user typed, and a flag of a
    part that is not selected is an error; a program passing shared keys leaves it False.
    """
    comm = comm if comm is not None else first_communicator(cli_values)
    agree(comm, early_inputs, cli_values)  # --config and --resume are regular files
    ckpt = None
    if cli_values.get("resume"):
        ckpt = agree(comm, read_resume, cli_values, comm.size)
        cfg = ckpt.config
        comm = agree(comm, communicator_for, cfg, comm)
        out = Path(cfg["out"])
    else:
        cfg = agree(
            comm,
            merge,
            {k: v for k, v in cli_values.items() if k not in ("config", "resume")},
            cli_values.get("config"),
            command_line,
        )
        comm = agree(comm, communicator_for, cfg, comm)
        out = Path(cfg["out"] or default_out(cfg, comm.size))
        cfg["out"] = str(out)
        agree(comm, check_out, out, cfg["overwrite"], comm)
    # inputs are regular files, outputs writable, and no output names an input or another output
    agree(comm, check_run_paths, cfg, out, cli_values.get("resume"), comm.is_root)
    if ckpt is not None:  # the checkpoint's log and data are the ones it was made with
        agree(comm, verify_resume, ckpt, cli_values["resume"], comm.is_root)
    run_id = ckpt.run_id if ckpt is not None else new_run_id()
    inputs = ckpt.inputs if ckpt is not None else agree(comm, input_identities, cfg, comm.is_root)
    problem_part, algo = parts.problem(cfg["problem"]), parts.algorithm(cfg["algo"])
    data = agree(comm, problem_part.load_data, cfg, comm)
    agree(comm, check_model_size, cfg, getattr(data.train, "n_features", 0))
    # a model that does not fit the data on any rank: every rank leaves with its message
    problem = agree(comm, problem_part.build, parts.ProblemContext(cfg, comm, data))
    x0 = problem.initial_point(cfg["seed"])
    check_same_start(comm, x0, problem.origin or f"--problem={cfg['problem']}")
    if ckpt is not None and problem.identity is not None:  # the checkpoint's model
        where = f"--resume={cli_values['resume']}"
        recorded = ckpt.state.get("model_identity")
        agree(comm, check_identity, recorded, problem.identity, where, problem.origin)
    if problem.smoothness_known:
        smoothness, smoothness_bound = global_smoothness(problem, comm)
    else:
        smoothness, smoothness_bound = math.nan, "unknown"
    gamma = algo.gamma_auto(smoothness, cfg) if cfg["gamma"] == "auto" else cfg["gamma"]
    settings = algo.settings(cfg, smoothness)
    plan = agree(comm, algo.plan, cfg, comm.size)
    schedule = agree(comm, parts.build_schedule, cfg, comm.size, problem)
    f_star, f_star_note = resolve_f_star(cfg, problem, comm)

    if ckpt is not None:  # the values the interrupted run used, bit for bit
        gamma = ckpt.state["gamma"]
        settings = {k: ckpt.state[k] for k in settings}
        log = agree(comm, resume_log, comm, out, ckpt.rounds)
    else:
        log = None
    log = log or agree(
        comm,
        open_log,
        cfg,
        comm,
        out,
        data.n_total,
        _sample_shape(data.train, problem),
        (smoothness, smoothness_bound),
        gamma,
        f_star,
        f_star_note,
        run_id,
    )
    log = GuardedLog(log, out)  # a write failure becomes one OutputError naming --out
    _warn(comm, log, parts.schedule_warning(cfg, gamma, settings), ckpt is not None)
    log.set_attrs(round_buffer_bytes=_round_buffer_bytes(problem, schedule))
    if problem_part.log_attrs is not None:
        log.set_attrs(**problem_part.log_attrs(problem))
    evaluator = (problem_part.make_evaluator or Evaluator)(problem, comm, f_star, data.test)
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
            "run_id": run_id,
            "inputs": inputs,
            "extra": {"gamma": gamma, **settings, **_identity(problem)},
        },
        start_rounds=ckpt.rounds if ckpt is not None else 0,
        log=log,
    )
    if ckpt is not None:
        rng = restore_rng(ckpt.rng_states[comm.rank])
        resume = Resume.from_checkpoint(ckpt)
    else:
        rng, resume = worker_rng(cfg["seed"], comm.rank), None
    ctx = parts.RunContext(
        cfg=cfg,
        comm=comm,
        problem=problem,
        evaluator=evaluator,
        log=log,
        rng=rng,
        x0=x0,
        gamma=gamma,
        step_size=step_size_from_config(cfg, gamma),
        plan=plan,
        settings=settings,
        schedule=schedule,
        control=control,
        resume=resume,
        progress=None if cfg["quiet"] or not comm.is_root else _progress_printer(cfg["T"]),
    )
    try:
        with FailureWatch(comm, lambda rank, message: log.close(f"failed: {message}")):
            with stop_on_signals(comm):
                result = algo.execute(ctx)
    except Preempted as exc:
        log.close(f"preempted: stopped after round {exc.rounds}, checkpoint {exc.path}")
        raise
    except DivergenceError as exc:
        if evaluator.last_finite_round < 0:  # not even the starting point: no step to blame
            hint = "not finite at the starting point, before any step: check the data and the "
            hint += f"initial parameters ({problem.origin or '--problem=' + cfg['problem']})"
        else:
            hint = (
                f"last finite objective {evaluator.last_finite_objective:.8g} at round "
                f"{evaluator.last_finite_round}; the step size --gamma={gamma:.6g} is probably "
                "too large for this problem and batch: try a smaller one"
            )
        exc.args = (f"{exc}; {hint}",)
        log.close(f"failed: {exc}")
        raise
    except AllRanksError as exc:
        log.close(f"failed: {exc}")
        raise
    except BaseException as exc:
        log.close(f"failed: rank {comm.rank}: {describe_failure(exc)}")
        raise
    if comm.is_root and ckpt_path.exists():
        ckpt_path.unlink()  # the run is complete: nothing is left to resume
    _finish(cfg, comm, log, result, out)
    if problem_part.finish is not None:
        problem_part.finish(problem, cfg, comm)
    return result


def _warn(comm: Communicator, log: Any, warning: str | None, resumed: bool) -> None:
    """The schedule's warning: one line on rank 0's stderr, and the root attribute
    ``schedule_warning`` (a resumed run's log has it already)."""
    if warning is None:
        return
    if comm.is_root:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    if not resumed:
        log.set_attrs(schedule_warning=warning)


def _identity(problem: Problem) -> dict[str, Any]:
    """The checkpoint's record of the problem's identity (nothing for the built-in ones)."""
    return {} if problem.identity is None else {"model_identity": problem.identity}


def _make_problem(cfg: dict[str, Any], shard: Any, n_total: int) -> Problem:
    """The problem of ``cfg`` on a tabular shard already loaded (used by the bench runner)."""
    return parts.problem(cfg["problem"]).build(
        parts.ProblemContext(cfg, None, parts.LoadedData(shard, n_total))
    )


def _finish(cfg: dict[str, Any], comm: Communicator, log: Any, result: RunResult, out: Path):
    """Write the summary and the result to the log; rank 0 prints one line."""
    summary = {
        "rounds": result.rounds,
        "sfo_per_worker": result.sfo_per_worker,
        "sfo_total": result.sfo_per_worker * comm.size,
        "objective": result.final.objective,
        "grad_norm_sq": result.final.grad_norm_sq,
        "suboptimality": result.final.suboptimality,
        "test_accuracy": result.final.test_accuracy,
        "test_loss": getattr(result.final, "test_loss", float("nan")),
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


def _sample_shape(train: Any, problem: Any) -> tuple[int, ...]:
    """One sample's shape: ``(d,)`` for tabular data, ``(3, H, W)`` for images."""
    if hasattr(train, "sample_shape"):
        return tuple(int(k) for k in train.sample_shape)
    return (int(getattr(train, "n_features", problem.dim)),)


def _round_buffer_bytes(problem: Any, schedule: Any) -> int:
    """Bytes of one round's Allreduce: the vector, the schedule's extra slots and the
    control slot, of the problem's dtype (``crpsgd project`` reads it from logs without a
    summary)."""
    import numpy as np

    slots = getattr(schedule, "extra_slots", 0) if schedule is not None else 0
    return (int(problem.dim) + int(slots) + 1) * np.dtype(problem.dtype).itemsize
