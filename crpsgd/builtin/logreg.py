"""Problem ``logreg``: l2-regularised logistic regression (strongly convex, known ``L``)."""

from __future__ import annotations

from crpsgd.params import Param, at_least
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.registry.parts import ProblemContext, ProblemPart, register_problem

#: Shared by the built-in problems: the weight of their regulariser.
LAM = Param("lam", float, 1e-4, "regularisation weight lambda", check=at_least(0.0))


def build(ctx: ProblemContext) -> LogisticRegression:
    return LogisticRegression(ctx.data.train, ctx.data.n_total, ctx.cfg["lam"])


register_problem(
    ProblemPart(
        name="logreg",
        help="l2 logistic regression, (1/n) sum log(1 + exp(-b_i a_i.x)) + lam/2 ||x||^2",
        build=build,
        params=(LAM,),
        convex_fstar=True,
        mu_lower_bound=lambda cfg: cfg["lam"],  # f = loss + lam/2 ||x||^2, the loss convex
    )
)
