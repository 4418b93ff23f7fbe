"""Post-local SGD (Lin et al., ICLR 2020; PyTorch's ``PostLocalSGDOptimizer``): parallel SGD,
one minibatch step a round, until a warm-up budget is spent, then Local SGD with period ``H``.

A round starts in the second phase once the SFO per worker spent before it reaches
``switch_at``; the rounds are otherwise :class:`~crpsgd.algorithms.local_sgd.LocalSGD`'s (one
round of period 1 is exactly a PSGD round), and the ``local_steps`` column shows the phase.
With ``--schedule`` every inner step's minibatch grows by it, in both phases.
"""

from __future__ import annotations

from crpsgd.algorithms.local_sgd import LocalSGD
from crpsgd.problems.base import Problem
from crpsgd.schedules.schedule import BatchSchedule, Schedule


class PostLocalSGD(LocalSGD):
    """Local SGD whose period is 1 before ``switch_at`` SFO per worker, ``period`` after
    (:meth:`LocalSGD.round_period`)."""

    def __init__(
        self,
        problem: Problem,
        batch: int,
        period: int,
        budget: int,
        switch_at: int,
        schedule: Schedule | BatchSchedule | None = None,
    ) -> None:
        super().__init__(problem, batch, period, budget, schedule)
        self.switch_at = switch_at
