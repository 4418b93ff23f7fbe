"""What a torch problem checks of the user's model before the first round.

:func:`check_model` runs, on two (at most ``micro_batch``) of this rank's training rows:

1. one forward pass in eval mode without gradients: a model that does not take the data's
   shape, or an output the loss rejects, is "does not fit the data";
2. one training step as the rounds take it (training mode, forward, the loss, backward):
   an error only in training mode (an assertion, a ``KeyError``, BatchNorm on one row), a
   loss that is not a tensor or does not depend on the parameters (no ``grad_fn``), every
   parameter frozen, and a gradient that did not reach crpsgd's flat buffer (a forward that
   sets ``.grad`` to None, e.g. ``module.zero_grad()``, would train nothing in silence).

Each is one :class:`~crpsgd.errors.UsageError` naming ``--model`` (exit status 2, on every
rank). The step leaves no trace: gradients are zeroed and the normalisation layers'
running statistics and counters are put back. Failures of the same code during the rounds
are :class:`~crpsgd.errors.UserCodeError` (:mod:`crpsgd.torchprob.usercode`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crpsgd.errors import UsageError
from crpsgd.torchprob.pipeline import BatchPipeline
from crpsgd.torchprob.usercode import describe, user_code


def check_model(problem: Any, origin: str) -> None:
    """Both checks of the module docstring on :class:`~crpsgd.torchprob.problem.TorchProblem`
    ``problem``, whose model ``--model`` names as ``origin`` (``--model=m:build``)."""
    _check_fits(problem, origin)
    if not any(p.requires_grad for p in problem.model.parameters()):
        raise UsageError(
            f"{origin}: every parameter is frozen (requires_grad=False): nothing to train"
        )
    _check_training_step(problem, origin)


def check_test_fits(problem: Any, test: Any) -> None:
    """The first check of the module docstring on the test shard ``test`` (an
    :class:`~crpsgd.data.images.ImageShard`): class numbers beyond the model's outputs, or
    targets the loss rejects, found before the rounds rather than at the first evaluation."""
    if test.n_rows:
        _check_fits(problem, problem.origin, test)


def _check_fits(problem: Any, origin: str, shard: Any = None) -> None:
    shard = problem.shard if shard is None else shard
    own = shard is problem.shard
    pipeline = problem.pipeline if own else BatchPipeline(shard, None, problem.device)
    k = min(2, shard.n_rows)
    inputs, targets = pipeline.batch(np.arange(k, dtype=np.int64), augment=False)
    problem.model.eval()
    try:
        with user_code(f"{origin}: the forward pass (eval mode, {k} rows) failed"):
            with torch.no_grad():
                _forward_and_loss(problem, inputs, targets, shard)
    finally:
        problem.model.train()
    _check_buffers(problem, origin)


def _check_buffers(problem: Any, origin: str) -> None:
    """Every parameter and gradient still a view of the flat buffers (a gradient set to None
    or replaced by the model would never reach the round's Allreduce)."""
    try:
        problem.flat.check_views()
    except RuntimeError as exc:
        raise UsageError(f"{origin}: {exc}: it would train nothing") from None


def _forward_and_loss(
    problem: Any, inputs: torch.Tensor, targets: torch.Tensor, shard: Any
) -> None:
    """The eval-mode pass; an error of shapes or types is "does not fit the data"."""
    try:
        out = problem.model(inputs)
        if not problem.own_loss and (out.ndim != 2 or out.shape[1] < shard.n_classes):
            raise ValueError(
                f"output of shape {tuple(out.shape)[1:]} per sample, expected "
                f"({shard.n_classes},) scores for {shard.n_classes} classes"
            )
        value = problem.loss(out, targets)
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            if problem.loss_origin is not None:  # a loss passed on its own: name it
                raise UsageError(
                    f"{problem.loss_origin}: returned a tensor of shape {tuple(value.shape)}, "
                    "not a scalar: reduce it over the batch (e.g. .mean())"
                )
            raise ValueError(f"the loss returned shape {tuple(value.shape)}, not a scalar")
    except UsageError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        targets = f"{shard.n_classes} classes" if shard.n_classes else "float targets"
        raise UsageError(
            f"{problem.origin}: does not fit the data {shard.source} (samples of shape "
            f"{shard.sample_shape}, {targets}): {describe(exc)}"
        ) from None


def _check_training_step(problem: Any, origin: str) -> None:
    flat = problem.flat
    k = min(2, problem.micro_batch, problem.n_local)
    stats, counters = flat.norm_stats.clone(), flat.counter_values()
    inputs, targets = problem.pipeline.batch(np.arange(k, dtype=np.int64), augment=False)
    problem.model.train()
    what = f"{origin}: the training step (train mode, micro-batch of {k} rows) failed"
    try:
        with user_code(what):
            value = problem.loss(problem.model(inputs), targets)
            if not isinstance(value, torch.Tensor):
                raise UsageError(
                    f"{problem.loss_origin or origin + ': the loss'} returned "
                    f"{type(value).__name__}, not a tensor: "
                    "nothing to differentiate"
                )
            if value.grad_fn is None:
                raise UsageError(
                    f"{origin}: the loss does not depend on the model's parameters (it has "
                    "no grad_fn: does it ignore or detach the model's output?)"
                )
            value.backward()
        _check_buffers(problem, origin)
    finally:
        flat.zero_grads()
        flat.norm_stats.copy_(stats)
        flat.set_counter_values(counters)
