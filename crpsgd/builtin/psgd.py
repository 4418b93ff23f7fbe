"""Algorithm ``psgd``: PSGD(B), the parallel-SGD loop with a constant batch (its default
schedule, ``constant``: ``--batch``)."""

from __future__ import annotations

from crpsgd.builtin.cr_psgd import execute_schedule_loop
from crpsgd.registry.parts import AlgorithmPart, register_algorithm

register_algorithm(
    AlgorithmPart(
        name="psgd",
        help="parallel SGD with a constant batch --batch",
        execute=execute_schedule_loop,
        uses_schedule=True,
        default_schedule="constant",
        label=lambda cfg, attrs: [],  # the schedule's terms say it all
    )
)
