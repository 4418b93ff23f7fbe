"""Schedule ``exponential``: CR-PSGD's ``B_t = floor(rho^(t-1) B_1)``."""

from __future__ import annotations

from typing import Any

from crpsgd.params import Param, above_one, at_least
from crpsgd.registry.parts import SchedulePart, register_schedule
from crpsgd.schedules.adaptive import rho_warning
from crpsgd.schedules.schedule import ExponentialBatch

B1 = Param("b1", int, 8, "first batch size B_1 (per worker)", check=at_least(1))
RHO = Param(
    "rho", float, 1.2, "batch growth factor rho > 1: B_t = floor(rho^(t-1) B_1)", check=above_one
)


def build(cfg: dict[str, Any]) -> ExponentialBatch:
    return ExponentialBatch(cfg["b1"], cfg["rho"])


register_schedule(
    SchedulePart(
        name="exponential",
        help="B_t = floor(rho^(t-1) B_1) (CR-PSGD)",
        build=build,
        params=(B1, RHO),
        first_batch="b1",
        warning=lambda cfg, gamma, mu: rho_warning(gamma, mu, cfg["rho"]),
        label=lambda cfg, attrs: [f"B1={cfg.get('b1')}", f"rho={cfg.get('rho')}"],
    )
)
