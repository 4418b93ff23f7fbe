"""Evaluation of a torch problem: training loss and ``||grad f||^2`` on the fixed training
subset, test loss and test accuracy, in one evaluation collective (not a round).

:class:`TorchEvaluator` is a drop-in for :class:`crpsgd.algorithms.evaluation.Evaluator` (same call,
same ``last_finite_*`` attributes) whose result, :class:`TorchEvaluation`, adds
``test_loss`` and the subset size. It first calls ``problem.before_evaluation(comm)``
(BatchNorm statistics averaged over ranks), then each rank packs into one float64 buffer::

    [subset loss sum, subset gradient sum (d values), test loss sum, correct test rows,
     test rows]

and one ``Allreduce`` sums it: ``f = loss sum / n_eval``, ``grad f = gradient sum / n_eval``,
test loss = test loss sum / test rows, accuracy = correct / test rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crpsgd.algorithms.evaluation import Evaluation
from crpsgd.comm.communicator import Communicator
from crpsgd.data.images import ImageShard
from crpsgd.errors import DivergenceError
from crpsgd.kernels.fixed_order import sq_norm
from crpsgd.torchprob.problem import TorchProblem


@dataclass(frozen=True)
class TorchEvaluation(Evaluation):
    """:class:`Evaluation` (``objective`` = mean training loss on the subset) plus the test
    loss (NaN without a test set) and the number of subset rows it was computed on."""

    test_loss: float = math.nan
    eval_rows: int = 0


class TorchEvaluator:
    """Evaluates a :class:`TorchProblem` at the loop's evaluation points."""

    def __init__(
        self,
        problem: TorchProblem,
        comm: Communicator,
        f_star: float | None = None,
        test_shard: ImageShard | None = None,
    ) -> None:
        self.problem = problem
        self.comm = comm
        self.f_star = f_star
        self.test_shard = test_shard
        self._buf = np.zeros(problem.dim + 4)
        self.last_finite_objective = math.nan
        self.last_finite_round = -1

    def __call__(self, x: np.ndarray) -> TorchEvaluation:
        t0 = self.comm.wtime()
        p, d, buf = self.problem, self.problem.dim, self._buf
        p.before_evaluation(self.comm)
        buf[0] = p.local_sums(x, buf[1 : d + 1])
        if self.test_shard is not None:
            buf[d + 1], buf[d + 2] = p.test_sums(x, self.test_shard)
            buf[d + 3] = self.test_shard.n_rows
        else:
            buf[d + 1 :] = 0.0
        self.comm.eval_allreduce_sum_(buf)
        n = p.n_eval_total
        grad = buf[1 : d + 1] / n
        objective = buf[0] / n
        rows = buf[d + 3]
        accuracy = buf[d + 2] / rows if rows > 0 else math.nan
        test_loss = buf[d + 1] / rows if rows > 0 else math.nan
        if not (math.isfinite(objective) and np.isfinite(grad).all()):
            raise DivergenceError(
                self.comm.stats.rounds, "the objective or its gradient is not finite"
            )
        self.last_finite_objective = float(objective)
        self.last_finite_round = self.comm.stats.rounds
        sub = objective - self.f_star if self.f_star is not None else math.nan
        return TorchEvaluation(
            objective=float(objective),
            grad_norm_sq=sq_norm(grad),
            suboptimality=float(sub),
            test_accuracy=float(accuracy),
            seconds=self.comm.wtime() - t0,
            test_loss=float(test_loss),
            eval_rows=int(n),
        )
