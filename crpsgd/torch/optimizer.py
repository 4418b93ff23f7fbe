"""A user's ``torch.optim.Optimizer`` as the update of a torch problem.

``optimizer`` is a factory ``params -> Optimizer`` called once on every rank with the
model's parameters (views into the flat buffer). Each round, after the one Allreduce, the
averaged gradient is the parameters' ``.grad`` and ``step()`` runs on every rank: the same
gradient and the same state give the same parameters everywhere. The learning rate of each
parameter group is the one the factory set, times ``gamma_t / gamma_1`` (the run's step-size
schedule, 1 when constant; ``train()`` runs with ``gamma = 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from crpsgd.errors import UsageError
from crpsgd.torchprob.usercode import user_code


class OptimizerUpdate:
    """The problem's ``update(x, grad, gamma)`` by a user's optimizer named ``origin``."""

    velocity = None  # no momentum buffer of crpsgd's own (checkpoints look for one)

    def __init__(self, factory: Callable[..., Any], problem: Any, origin: str) -> None:
        self.problem = problem
        self.origin = origin
        with user_code(f"{origin}: the factory failed"):
            opt = factory(problem.model.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise UsageError(
                f"{origin}: the factory returned {type(opt).__name__}, not a "
                "torch.optim.Optimizer (pass params -> Optimizer, e.g. "
                "lambda p: torch.optim.AdamW(p, lr=1e-3))"
            )
        self.optimizer = opt
        self.base_lr = [group["lr"] for group in opt.param_groups]
        self.gamma_1: float | None = None

    def __call__(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        """``x <- step(x, grad)``: ``grad`` is the round's averaged gradient."""
        p, flat = self.problem, self.problem.flat
        on_cpu = p.device == "cpu"
        if not (on_cpu and np.shares_memory(x, p.x)):
            flat.params.copy_(torch.from_numpy(np.ascontiguousarray(x)))
        if not (on_cpu and np.shares_memory(grad, p.grad)):
            flat.grads.copy_(torch.from_numpy(np.ascontiguousarray(grad)))
        if self.gamma_1 is None:
            self.gamma_1 = gamma
        for group, lr in zip(self.optimizer.param_groups, self.base_lr, strict=True):
            group["lr"] = lr * (gamma / self.gamma_1)
        with user_code(f"{self.origin}: step() failed", "rounds"):
            with torch.no_grad():
                self.optimizer.step()
        if not (on_cpu and np.shares_memory(x, p.x)):
            x[:] = flat.params.detach().cpu().numpy()

    def describe(self) -> str:
        """``AdamW(lr=0.001, weight_decay=0.01, ...)``: the class and the first group's
        settings (scalars only)."""
        group = self.optimizer.param_groups[0]
        settings = ", ".join(
            f"{k}={v}"
            for k, v in group.items()
            if k != "params" and isinstance(v, int | float | str | bool | tuple)
        )
        return f"{type(self.optimizer).__name__}({settings})"
