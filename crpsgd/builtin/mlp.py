"""Problem ``mlp``: a two-layer tanh network with logistic loss (no known ``L``)."""

from __future__ import annotations

from crpsgd.builtin.logreg import LAM
from crpsgd.params import Param, at_least
from crpsgd.problems.nonconvex import TwoLayerNetwork
from crpsgd.registry.parts import ProblemContext, ProblemPart, register_problem

HIDDEN = Param("hidden", int, 16, "hidden units of the two-layer network", check=at_least(1))


def build(ctx: ProblemContext) -> TwoLayerNetwork:
    cfg = ctx.cfg
    return TwoLayerNetwork(ctx.data.train, ctx.data.n_total, cfg["hidden"], cfg["lam"])


register_problem(
    ProblemPart(
        name="mlp",
        help="two-layer tanh network + lam/2 ||x||^2",
        build=build,
        params=(LAM, HIDDEN),
        smoothness_known=False,
    )
)
