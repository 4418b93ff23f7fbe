"""Algorithm ``local-sgd`` (Stich 2018; PR-SGD with ``--period-rule prsgd``): local steps of
minibatch ``--batch`` (or growing by ``--schedule``: :mod:`crpsgd.algorithms.inner_batches`;
``--schedule adaptive``: :mod:`crpsgd.algorithms.local_sgd_adaptive`), models averaged every
``H`` steps; ``H`` may depend on the rank count."""

from __future__ import annotations

from typing import Any

from crpsgd.algorithms.diloco import LocalOptimizerSGD
from crpsgd.algorithms.driver import run_algorithm
from crpsgd.algorithms.inner_batches import check_pure, is_pure
from crpsgd.algorithms.inner_optimizers import INNER_OPTIMIZERS, make_inner_optimizer
from crpsgd.algorithms.local_sgd import PERIOD_RULES, LocalSGD, auto_period
from crpsgd.algorithms.local_sgd_adaptive import AdaptiveLocalSGD
from crpsgd.algorithms.loop_recorder import RunResult
from crpsgd.builtin.constant import BATCH
from crpsgd.errors import UsageError
from crpsgd.params import Param, at_least, check_first_batch
from crpsgd.registry.parts import AlgorithmPart, RunContext, register_algorithm, schedule_of
from crpsgd.schedules.adaptive import AdaptiveBatch

PERIOD = Param(
    "period",
    int,
    "auto",
    "local minibatch steps H between model averagings, or 'auto' (--period-rule)",
    special=("auto",),
    check=at_least(1),
)
PERIOD_RULE = Param(
    "period_rule",
    str,
    "stich",
    "rule of --period auto, with S = floor(T/batch) local steps: stich "
    "(H = floor(sqrt(S/N))) or prsgd (H = floor(S^(1/4) / N^(3/4)))",
    PERIOD_RULES,
)
LOCAL_OPTIMIZER = Param(
    "local_optimizer",
    str,
    "plain",
    "Local SGD and post-local SGD: plain (plain SGD local steps; the torch problem's "
    "--optimizer, --momentum and --weight-decay act on the round's averaged step) or sgd / "
    "adamw (every local step is the worker's own optimizer with --momentum and "
    "--weight-decay, its state kept on the worker, then the models are averaged: Lin et al. "
    "2020, PyTorch's PostLocalSGDOptimizer)",
    ("plain", *INNER_OPTIMIZERS),
)


def plan(cfg: dict[str, Any], n_workers: int) -> int:
    """The period ``H``."""
    if cfg["period"] == "auto":
        return auto_period(cfg["period_rule"], cfg["T"], cfg["batch"], n_workers)
    return cfg["period"]


def check_inner(cfg: dict[str, Any], *, adaptive: bool = False) -> None:
    """The budget holds the first minibatch: ``--batch``, or with ``--schedule`` the
    schedule's first batch (its own check); the schedule must be one of the step alone, or
    with ``adaptive`` also the adaptive schedule's norm test (its statistics from the
    round's inner steps: :mod:`crpsgd.algorithms.local_sgd_adaptive`)."""
    sched = schedule_of(cfg)
    if sched is None:
        check_first_batch(cfg, "batch")
        return
    built = sched.build(cfg)
    if adaptive and isinstance(built, AdaptiveBatch):
        if type(built) is not AdaptiveBatch:
            raise UsageError(
                f"--adaptive-test={cfg.get('adaptive_test')}: --algo {cfg['algo']} takes "
                "--schedule adaptive with the norm test only (--adaptive-test norm)"
            )
        return
    check_pure(built, sched.name, cfg["algo"])


def check_local_optimizer(cfg: dict[str, Any]) -> None:
    """A local optimizer other than ``plain`` has its own update: ``--optimizer`` is left
    out, and the inner batch grows only by a schedule of the step alone."""
    local = cfg.get("local_optimizer", "plain")
    if local == "plain":
        return
    optimizer = cfg.get("optimizer", "plain")
    if optimizer != "plain":
        raise UsageError(
            f"--optimizer={optimizer}: with --local-optimizer={local} the local steps are "
            "the local optimizer's; leave --optimizer out"
        )
    if cfg.get("schedule") == "adaptive":
        raise UsageError(
            f"--schedule=adaptive: --local-optimizer={local} grows its inner batch only by a "
            "schedule of the step alone; use --local-optimizer plain"
        )


def check(cfg: dict[str, Any]) -> None:
    """Local SGD's inner batches: any schedule of the step alone, or the adaptive one."""
    check_local_optimizer(cfg)
    check_inner(cfg, adaptive=True)


def label(cfg: dict[str, Any], attrs: dict[str, Any]) -> list[str]:
    """``b=8,H=4``; with ``--schedule`` the schedule's terms replace ``b``; a local
    optimizer other than ``plain`` adds ``local=sgd``."""
    batch = [f"b={cfg.get('batch')}"] if cfg.get("schedule", "auto") in ("auto", None) else []
    local = cfg.get("local_optimizer", "plain")
    return [
        *batch,
        f"H={attrs.get('period', cfg.get('period'))}",
        *([f"local={local}"] if local not in ("plain", None) else []),
    ]


def local_optimizer_algorithm(ctx: RunContext, switch_at: int = 0) -> LocalOptimizerSGD | None:
    """Local SGD with each worker's own optimizer, or ``None`` with ``--local-optimizer
    plain``."""
    cfg = ctx.cfg
    name = cfg.get("local_optimizer", "plain")
    if name == "plain":
        return None
    inner = make_inner_optimizer(
        name,
        ctx.x0.size,
        ctx.problem.dtype,
        cfg.get("momentum") or 0.0,
        cfg.get("weight_decay") or 0.0,
    )
    return LocalOptimizerSGD(
        ctx.problem, inner, cfg["batch"], ctx.plan, cfg["T"], switch_at, ctx.schedule
    )


def execute(ctx: RunContext) -> RunResult:
    cfg = ctx.cfg
    ctx.log.set_attrs(
        period=ctx.plan, period_rule=cfg["period_rule"] if cfg["period"] == "auto" else "given"
    )
    local = local_optimizer_algorithm(ctx)
    if local is not None:
        algo: LocalSGD = local
    elif ctx.schedule is not None and not is_pure(ctx.schedule):
        algo = AdaptiveLocalSGD(ctx.problem, ctx.plan, cfg["T"], ctx.schedule)
    else:
        algo = LocalSGD(ctx.problem, cfg["batch"], ctx.plan, cfg["T"], ctx.schedule)
    return run_algorithm(algo, ctx)


register_algorithm(
    AlgorithmPart(
        name="local-sgd",
        help="Local SGD / PR-SGD: H local steps, then one model average",
        execute=execute,
        params=(BATCH, PERIOD, PERIOD_RULE, LOCAL_OPTIMIZER),
        plan=plan,
        inner_schedule=True,
        check=check,
        label=label,
    )
)
