"""Problem ``torch``: a ``torch.nn.Module`` (ResNet20 or ``--model pkg.module:build``).

The parameters are :data:`crpsgd.torchprob.build.TORCH_PARAMS`; the data loader reads
``cifar10:DIR`` or any tabular source (:func:`~crpsgd.torchprob.build.load_torch_data`); the
evaluator is :class:`~crpsgd.torchprob.evaluate.TorchEvaluator` (test loss, test accuracy,
training loss and ``||grad f||^2`` on a fixed subset of ``--eval-rows`` rows). No ``L`` is
known. After a completed run rank 0 writes the trained ``state_dict`` to ``<out stem>.pt``
(:mod:`crpsgd.torchprob.state_file`). Nothing here imports torch: without PyTorch, ``crpsgd
run --help`` and every other problem work, and ``--problem torch`` is one message, exit
status 2.
"""

from __future__ import annotations

from typing import Any

from crpsgd.errors import UsageError
from crpsgd.registry.parts import ProblemContext, ProblemPart, register_problem
from crpsgd.torchprob import require_torch
from crpsgd.torchprob.build import TORCH_PARAMS, TorchData, build_torch_problem, load_torch_data


def load_data(cfg: dict[str, Any], comm: Any) -> TorchData:
    require_torch()  # before any file is read: the one message of a missing PyTorch
    return load_torch_data(cfg, comm)


def build(ctx: ProblemContext) -> Any:
    """The problem; with ``--optimizer`` other than ``plain`` its update is that optimizer."""
    problem = build_torch_problem(ctx.cfg, ctx.comm, ctx.data)
    if ctx.cfg.get("optimizer", "plain") != "plain":
        from crpsgd.torch.optimizer import OptimizerUpdate, factory_of

        factory, origin = factory_of(ctx.cfg)
        problem.update = OptimizerUpdate(factory, problem, origin, ctx.cfg["gamma"])
    return problem


def check(cfg: dict[str, Any]) -> None:
    """``--optimizer``: no ``--momentum`` with Adam or AdamW (theirs are ``betas``); DiLoCo's
    part refuses ``--optimizer`` (its inner steps have ``--inner-optimizer``)."""
    name = cfg.get("optimizer", "plain")
    if name == "plain":
        return
    if name in ("adam", "adamw") and cfg["momentum"] > 0:
        raise UsageError(
            f"--momentum={cfg['momentum']}: not a setting of --optimizer={name} (its betas are "
            "torch's defaults; pass a factory pkg.module:fn to set them)"
        )


def make_evaluator(problem: Any, comm: Any, f_star: float | None, test: Any) -> Any:
    from crpsgd.torchprob.evaluate import TorchEvaluator

    return TorchEvaluator(problem, comm, f_star, test)


def log_attrs(problem: Any) -> dict[str, Any]:
    """``eval_rows``: the training subset that ``objective`` and ``grad_norm_sq`` average;
    ``model_parameters``: the model's parameter count (the length of the flat vector);
    ``optimizer``: a user's optimizer (``crpsgd.torch.train(optimizer=...)``), e.g.
    ``AdamW(lr=0.001, ...)``, when the update is one."""
    attrs = {"eval_rows": int(problem.n_eval_total), "model_parameters": int(problem.dim)}
    describe = getattr(problem.update, "describe", None)
    if describe is not None:
        attrs["optimizer"] = describe()
    return attrs


def finish(problem: Any, cfg: dict[str, Any], comm: Any) -> None:
    """Rank 0 writes the trained ``state_dict`` to ``<out stem>.pt``
    (:mod:`crpsgd.torchprob.state_file`)."""
    from crpsgd.torchprob.state_file import save_state_dict, state_path

    if comm.is_root:
        save_state_dict(problem.model, state_path(cfg["out"]))


register_problem(
    ProblemPart(
        name="torch",
        help="a torch.nn.Module (--model resnet20 or pkg.module:build), cross-entropy loss",
        build=build,
        params=TORCH_PARAMS,
        smoothness_known=False,
        load_data=load_data,
        make_evaluator=make_evaluator,
        log_attrs=log_attrs,
        finish=finish,
        check=check,
    )
)
