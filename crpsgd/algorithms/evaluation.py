"""Full-data evaluation of an iterate with one evaluation collective (not a round).

Each rank packs ``[sum_i F(x; i), sum_i grad F(x; i) (d values), correct test rows, test
rows]`` over its own shards into one float64 buffer; one ``Allreduce`` sums it; then
``f(x) = sum/n + r(x)``, ``grad f(x) = grad sum/n + grad r(x)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crpsgd.comm.communicator import Communicator
from crpsgd.data.dataset import Dataset
from crpsgd.errors import DivergenceError
from crpsgd.kernels.fixed_order import sq_norm
from crpsgd.problems.base import Problem


@dataclass(frozen=True)
class Evaluation:
    """Objective, squared gradient norm, ``f - f*`` (NaN if ``f*`` unknown), test accuracy
    (NaN without a test set) and the seconds the evaluation took on this rank."""

    objective: float
    grad_norm_sq: float
    suboptimality: float
    test_accuracy: float
    seconds: float


class Evaluator:
    """Evaluates ``f``, ``||grad f||^2`` and test accuracy of an iterate over all ranks."""

    def __init__(
        self,
        problem: Problem,
        comm: Communicator,
        f_star: float | None = None,
        test_shard: Dataset | None = None,
    ) -> None:
        self.problem = problem
        self.comm = comm
        self.f_star = f_star
        self.test_shard = test_shard
        self._buf = np.zeros(problem.dim + 3)
        self.last_finite_objective = math.nan
        self.last_finite_round = -1

    def __call__(self, x: np.ndarray) -> Evaluation:
        # a diverging iterate overflows here; the finiteness check below reports it once,
        # so numpy's RuntimeWarnings would only print lines before that message
        with np.errstate(all="ignore"):
            return self._evaluate(x)

    def _evaluate(self, x: np.ndarray) -> Evaluation:
        t0 = self.comm.wtime()
        self.problem.before_evaluation(self.comm)
        d = self.problem.dim
        buf = self._buf
        buf[0] = self.problem.local_sums(x, buf[1 : d + 1])
        if self.test_shard is not None:
            buf[d + 1] = self.problem.count_correct(x, self.test_shard)
            buf[d + 2] = self.test_shard.n_rows
        else:
            buf[d + 1 :] = 0.0
        self.comm.eval_allreduce_sum_(buf)
        grad = buf[1 : d + 1] / self.problem.n_total
        objective = buf[0] / self.problem.n_total + self.problem.regulariser(x, grad)
        accuracy = buf[d + 1] / buf[d + 2] if buf[d + 2] > 0 else math.nan
        sub = objective - self.f_star if self.f_star is not None else math.nan
        if not (math.isfinite(objective) and np.isfinite(grad).all()):
            raise DivergenceError(
                self.comm.stats.rounds, "the objective or its gradient is not finite"
            )
        self.last_finite_objective = float(objective)
        self.last_finite_round = self.comm.stats.rounds
        return Evaluation(
            objective=float(objective),
            grad_norm_sq=sq_norm(grad),
            suboptimality=float(sub),
            test_accuracy=float(accuracy),
            seconds=self.comm.wtime() - t0,
        )


def global_smoothness(problem: Problem, comm: Communicator) -> tuple[float, str]:
    """``L`` of the whole objective and how it was bounded (evaluation collectives only).

    ``"spectral"``: the problem's curvature Gram matrix summed over ranks; ``"rowmax"``: the
    maximum over ranks of the per-sample bounds (for problems or sizes without a Gram matrix).
    """
    gram = getattr(problem, "local_curvature_gram", lambda: None)()
    if gram is not None:
        comm.eval_allreduce_sum_(gram.reshape(-1))
        return problem.smoothness_from_gram(gram), "spectral"
    return comm.eval_allreduce_max(problem.local_smoothness()), "rowmax"
