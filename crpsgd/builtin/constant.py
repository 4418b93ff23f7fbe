"""Schedule ``constant``: PSGD(B)'s ``B_t = B``."""

from __future__ import annotations

from typing import Any

from crpsgd.params import Param, at_least
from crpsgd.registry.parts import SchedulePart, register_schedule
from crpsgd.schedules.schedule import ConstantBatch

#: Also Local SGD's minibatch.
BATCH = Param(
    "batch",
    int,
    8,
    "constant batch size B (per worker); Local SGD: the local minibatch b",
    check=at_least(1),
)


def build(cfg: dict[str, Any]) -> ConstantBatch:
    return ConstantBatch(cfg["batch"])


register_schedule(
    SchedulePart(
        name="constant",
        help="B_t = B (PSGD)",
        build=build,
        params=(BATCH,),
        first_batch="batch",
        label=lambda cfg, attrs: [f"B={cfg.get('batch')}"],
    )
)
