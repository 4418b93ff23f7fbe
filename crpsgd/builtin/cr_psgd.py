"""Algorithm ``cr-psgd`` (Algorithm 1 of Yu & Jin 2019): the parallel-SGD loop with a
growing batch (its default schedule, ``exponential``: ``--b1``, ``--rho``)."""

from __future__ import annotations

from crpsgd.algorithms.driver import run_algorithm
from crpsgd.algorithms.parallel_sgd import ParallelSGD, RunResult
from crpsgd.registry.parts import AlgorithmPart, RunContext, register_algorithm


def execute_schedule_loop(ctx: RunContext) -> RunResult:
    """The one loop of every schedule-driven algorithm, with the run's schedule."""
    return run_algorithm(ParallelSGD(ctx.problem, ctx.schedule, ctx.cfg["T"]), ctx)


register_algorithm(
    AlgorithmPart(
        name="cr-psgd",
        help="parallel SGD with an exponentially growing batch",
        execute=execute_schedule_loop,
        uses_schedule=True,
        default_schedule="exponential",
        label=lambda cfg, attrs: [],  # the schedule's terms say it all
    )
)
