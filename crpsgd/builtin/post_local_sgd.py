"""Algorithm ``post-local-sgd`` (Lin et al. 2020): PSGD with minibatch ``--batch`` until
``--switch-at`` SFO per worker, then Local SGD with period ``--period``; with
``--local-optimizer sgd`` every step is the worker's own SGD with momentum, as in Lin et al.
and PyTorch's ``PostLocalSGDOptimizer``."""

from __future__ import annotations

from typing import Any

from crpsgd.algorithms.driver import run_algorithm
from crpsgd.algorithms.loop_recorder import RunResult
from crpsgd.algorithms.post_local_sgd import PostLocalSGD
from crpsgd.builtin.constant import BATCH
from crpsgd.builtin.local_sgd import (
    LOCAL_OPTIMIZER,
    PERIOD,
    PERIOD_RULE,
    check_inner,
    check_local_optimizer,
    local_optimizer_algorithm,
)
from crpsgd.builtin.local_sgd import label as local_label
from crpsgd.builtin.local_sgd import plan as period_plan
from crpsgd.params import Param, at_least
from crpsgd.registry.parts import AlgorithmPart, RunContext, register_algorithm

SWITCH_AT = Param(
    "switch_at",
    int,
    0,
    "post-local SGD: SFO per worker of the PSGD warm-up before Local SGD starts",
    check=at_least(0),
)


def execute(ctx: RunContext) -> RunResult:
    cfg = ctx.cfg
    ctx.log.set_attrs(
        period=ctx.plan, period_rule=cfg["period_rule"] if cfg["period"] == "auto" else "given"
    )
    algo = local_optimizer_algorithm(ctx, cfg["switch_at"]) or PostLocalSGD(
        ctx.problem, cfg["batch"], ctx.plan, cfg["T"], cfg["switch_at"], ctx.schedule
    )
    return run_algorithm(algo, ctx)


def _check(cfg: dict[str, Any]) -> None:
    check_local_optimizer(cfg)
    check_inner(cfg)


register_algorithm(
    AlgorithmPart(
        name="post-local-sgd",
        help="post-local SGD: PSGD until --switch-at SFO per worker, then Local SGD",
        execute=execute,
        params=(BATCH, PERIOD, PERIOD_RULE, SWITCH_AT, LOCAL_OPTIMIZER),
        plan=period_plan,
        inner_schedule=True,
        check=_check,
        label=lambda cfg, attrs: [*local_label(cfg, attrs), f"switch={cfg.get('switch_at')}"],
    )
)
