"""Algorithm ``diloco`` (Douillard et al. 2023): ``H`` inner steps of SGD with momentum or
AdamW from the common point, then an outer Nesterov step on the averaged parameter change;
``--schedule`` grows the inner steps' minibatch (:mod:`crpsgd.algorithms.inner_batches`)."""

from __future__ import annotations

from typing import Any

from crpsgd.algorithms.diloco import DiLoCo
from crpsgd.algorithms.driver import run_algorithm
from crpsgd.algorithms.inner_optimizers import INNER_OPTIMIZERS, make_inner_optimizer
from crpsgd.algorithms.loop_recorder import RunResult
from crpsgd.builtin.constant import BATCH
from crpsgd.builtin.local_sgd import PERIOD, PERIOD_RULE, check_inner
from crpsgd.builtin.local_sgd import label as local_label
from crpsgd.builtin.local_sgd import plan as period_plan
from crpsgd.errors import UsageError
from crpsgd.params import Param, positive
from crpsgd.registry.parts import AlgorithmPart, RunContext, register_algorithm
from crpsgd.torchprob.build import TORCH_PARAMS

#: Shared with the torch problem: the inner SGD's momentum and both inner optimizers' decay.
MOMENTUM, WEIGHT_DECAY = (
    next(p for p in TORCH_PARAMS if p.name == name) for name in ("momentum", "weight_decay")
)
OUTER_LR = Param("outer_lr", float, 0.7, "DiLoCo: outer (Nesterov) learning rate", check=positive)
OUTER_MOMENTUM = Param(
    "outer_momentum",
    float,
    0.9,
    "DiLoCo: outer Nesterov momentum, in [0, 1)",
    check=lambda v: None if 0.0 <= v < 1.0 else "must be in [0, 1)",
)
INNER_OPTIMIZER = Param(
    "inner_optimizer",
    str,
    "sgd",
    "DiLoCo: optimizer of the inner steps: sgd (momentum --momentum) or adamw (betas 0.9, "
    "0.999); both with --weight-decay, at the step size --gamma",
    INNER_OPTIMIZERS,
)


def execute(ctx: RunContext) -> RunResult:
    cfg, problem = ctx.cfg, ctx.problem
    ctx.log.set_attrs(
        period=ctx.plan, period_rule=cfg["period_rule"] if cfg["period"] == "auto" else "given"
    )
    inner = make_inner_optimizer(
        cfg["inner_optimizer"],
        ctx.x0.size,
        problem.dtype,
        cfg.get("momentum") or 0.0,
        cfg.get("weight_decay") or 0.0,
    )
    algo = DiLoCo(
        problem,
        inner,
        cfg["batch"],
        ctx.plan,
        cfg["T"],
        cfg["outer_lr"],
        cfg["outer_momentum"],
        ctx.schedule,
    )
    return run_algorithm(algo, ctx)


def _label(cfg: dict[str, Any], attrs: dict[str, Any]) -> list[str]:
    return [
        *local_label(cfg, attrs),
        f"inner={cfg.get('inner_optimizer')}",
        f"outer_lr={cfg.get('outer_lr')}",
        f"outer_mu={cfg.get('outer_momentum')}",
    ]


def _check(cfg: dict[str, Any]) -> None:
    """The inner batches (a schedule of the step alone), and no ``--optimizer``: DiLoCo's
    local steps have their own, ``--inner-optimizer``."""
    check_inner(cfg)
    name = cfg.get("optimizer", "plain")
    if name != "plain":
        raise UsageError(
            f"--optimizer={name}: DiLoCo's local steps use --inner-optimizer; leave "
            "--optimizer out with --algo diloco"
        )


register_algorithm(
    AlgorithmPart(
        name="diloco",
        help="DiLoCo: H inner steps (SGD or AdamW), then an outer Nesterov step on the "
        "averaged parameter change",
        execute=execute,
        params=(
            BATCH,
            PERIOD,
            PERIOD_RULE,
            OUTER_LR,
            OUTER_MOMENTUM,
            INNER_OPTIMIZER,
            MOMENTUM,
            WEIGHT_DECAY,
        ),
        plan=period_plan,
        inner_schedule=True,
        check=_check,
        label=_label,
    )
)
