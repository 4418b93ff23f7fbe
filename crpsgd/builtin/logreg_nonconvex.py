"""Problem ``logreg-nonconvex``: logistic loss plus a non-convex penalty (known ``L``)."""

from __future__ import annotations

from crpsgd.builtin.logreg import LAM
from crpsgd.params import Param, positive
from crpsgd.problems.nonconvex import NonconvexLogisticRegression
from crpsgd.registry.parts import ProblemContext, ProblemPart, register_problem

ALPHA = Param(
    "alpha",
    float,
    1.0,
    "alpha > 0 of the penalty lam sum alpha x^2/(1 + alpha x^2)",
    check=positive,
)


def build(ctx: ProblemContext) -> NonconvexLogisticRegression:
    cfg = ctx.cfg
    return NonconvexLogisticRegression(ctx.data.train, ctx.data.n_total, cfg["lam"], cfg["alpha"])


register_problem(
    ProblemPart(
        name="logreg-nonconvex",
        help="logistic loss + lam sum alpha x^2/(1 + alpha x^2)",
        build=build,
        params=(LAM, ALPHA),
    )
)
