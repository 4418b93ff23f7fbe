"""Algorithm ``cr-psgd-catalyst`` (Algorithm 2 of Yu & Jin 2019): CR-PSGD inner runs on
proximal problems; its plan (``K``, inner budget) depends on the rank count."""

from __future__ import annotations

from typing import Any

from crpsgd.algorithms.catalyst import Catalyst, CatalystPlan, catalyst_plan, check_plan
from crpsgd.algorithms.driver import run_algorithm
from crpsgd.algorithms.loop_recorder import RunResult
from crpsgd.params import Param, at_least, positive
from crpsgd.registry import parts
from crpsgd.registry.parts import AlgorithmPart, RunContext, register_algorithm

THETA = Param(
    "theta",
    float,
    "auto",
    "weight theta of the proximal term theta/2 ||x - y_(k-1)||^2, or 'auto' = 2L",
    special=("auto",),
    check=positive,
)
OUTER = Param(
    "outer",
    int,
    "auto",
    "outer iterations K, or 'auto' = floor(sqrt(N T)); each inner run gets floor(sqrt(T/N)) "
    "SFO per worker ('auto') or floor(T/K)",
    special=("auto",),
    check=at_least(1),
)


def _short(value: Any) -> str:
    return format(value, ".3g") if isinstance(value, float) else str(value)


def theta_of(cfg: dict[str, Any], smoothness: float) -> float:
    """``--theta``, or ``2 L`` for ``auto``."""
    return 2.0 * smoothness if cfg["theta"] == "auto" else cfg["theta"]


def plan(cfg: dict[str, Any], n_workers: int) -> CatalystPlan:
    """``K`` and the inner budget, checked to hold the schedule's first batch."""
    outer = None if cfg["outer"] == "auto" else cfg["outer"]
    result = catalyst_plan(cfg["T"], n_workers, outer)
    first = parts.schedule_of(cfg).first_batch
    if first is not None:
        check_plan(result, cfg[first], cfg["T"], n_workers, "--" + first.replace("_", "-"))
    return result


def execute(ctx: RunContext) -> RunResult:
    algo = Catalyst(ctx.problem, ctx.schedule, ctx.plan, ctx.settings["theta"])
    return run_algorithm(algo, ctx)


register_algorithm(
    AlgorithmPart(
        name="cr-psgd-catalyst",
        help="CR-PSGD on theta-proximal problems, for non-convex f (gamma auto = 1/(L + theta))",
        execute=execute,
        params=(THETA, OUTER),
        uses_schedule=True,
        default_schedule="exponential",
        plan=plan,
        gamma_auto=lambda smoothness, cfg: 1.0 / (smoothness + theta_of(cfg, smoothness)),
        settings=lambda cfg, smoothness: {"theta": theta_of(cfg, smoothness)},
        auto_needs_smoothness=("theta",),
        loop_mu=lambda mu, settings: mu + settings["theta"],
        label=lambda cfg, attrs: [f"theta={_short(attrs.get('theta', cfg.get('theta')))}"],
    )
)
