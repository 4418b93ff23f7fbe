"""A user's ``torch.optim.Optimizer`` as the update of a torch problem.

``optimizer`` is a factory ``params -> Optimizer`` called once on every rank with the
model's parameters (views into the flat buffer). Each round, after the one Allreduce, the
averaged gradient is the parameters' ``.grad`` and ``step()`` runs on every rank: the same
gradient and the same state give the same parameters everywhere. The learning rate of each
parameter group is the one the factory set, times ``gamma_t / gamma`` (the factor of the run's
step-size rule: warm-up, decays, batch scaling; 1 when constant; ``train()`` runs with
``gamma = 1``).

``crpsgd run --optimizer sgd|adam|adamw|pkg.module:fn`` builds the factory from the run's
configuration (:func:`factory_of`); the optimizer's ``state_dict()`` (Adam's moments, SGD's
momentum buffers, step counts) goes into checkpoints (:meth:`OptimizerUpdate.state_arrays`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from crpsgd.errors import UsageError, UserCodeError
from crpsgd.torchprob.usercode import import_callable, user_code

STATE_PREFIX = "optimizer:"  # the checkpoint's names of the optimizer's state


class OptimizerUpdate:
    """The problem's ``update(x, grad, gamma)`` by a user's optimizer named ``origin``."""

    velocity = None  # no momentum buffer of crpsgd's own (checkpoints look for one)

    def __init__(
        self, factory: Callable[..., Any], problem: Any, origin: str, gamma: float = 1.0
    ) -> None:
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
        self.gamma = float(gamma)  # the run's --gamma: gamma_t / gamma scales the lr

    def __call__(self, x: np.ndarray, grad: np.ndarray, gamma: float) -> None:
        """``x <- step(x, grad)``: ``grad`` is the round's averaged gradient."""
        p, flat = self.problem, self.problem.flat
        on_cpu = p.device == "cpu"
        if not (on_cpu and np.shares_memory(x, p.x)):
            flat.params.copy_(torch.from_numpy(np.ascontiguousarray(x)))
        if not (on_cpu and np.shares_memory(grad, p.grad)):
            flat.grads.copy_(torch.from_numpy(np.ascontiguousarray(grad)))
        for group, lr in zip(self.optimizer.param_groups, self.base_lr, strict=True):
            group["lr"] = lr * (gamma / self.gamma)
        with user_code(f"{self.origin}: step() failed", "rounds"):
            with torch.no_grad():
                self.optimizer.step()
        if not (on_cpu and np.shares_memory(x, p.x)):
            x[:] = flat.params.detach().cpu().numpy()

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The optimizer's per-parameter state (``state_dict()["state"]``) as arrays for a
        checkpoint: ``optimizer:<param index>:<key>`` for a tensor, with ``:int`` or
        ``:float`` appended for a Python number. Other values are refused by name."""
        arrays = {}
        for index, entries in self.optimizer.state_dict()["state"].items():
            for key, value in entries.items():
                name = f"{STATE_PREFIX}{index}:{key}"
                if isinstance(value, torch.Tensor):
                    arrays[name] = value.detach().cpu().numpy().copy()
                elif isinstance(value, bool | int | float):
                    kind = "float" if isinstance(value, float) else "int"
                    arrays[f"{name}:{kind}"] = np.array(value, dtype=np.float64)
                else:
                    raise UserCodeError(
                        f"{self.origin}: state {key!r} of parameter {index} is a "
                        f"{type(value).__name__}; a checkpoint keeps tensors and numbers only"
                    )
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`state_arrays` (checkpoints hold float64: ``step`` goes back
        to torch's float32, the other tensors to their parameter's dtype)."""
        state: dict[int, dict[str, Any]] = {}
        for name, value in arrays.items():
            if not name.startswith(STATE_PREFIX):
                continue
            index, _, key = name[len(STATE_PREFIX) :].partition(":")
            key, _, kind = key.partition(":")
            if kind:
                number = float(value)
                state.setdefault(int(index), {})[key] = number if kind == "float" else int(number)
                continue
            tensor = torch.from_numpy(np.array(value))
            if key == "step":
                tensor = tensor.to(torch.float32)
            state.setdefault(int(index), {})[key] = tensor
        groups = self.optimizer.state_dict()["param_groups"]
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})

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


def factory_of(cfg: dict[str, Any]) -> tuple[Callable[..., Any], str] | None:
    """The factory ``params -> Optimizer`` of ``--optimizer`` and how messages name it;
    None for ``plain`` (crpsgd's own step).

    ``sgd``: ``SGD(lr=gamma, momentum=--momentum, weight_decay=--weight-decay)``; ``adam`` and
    ``adamw``: ``lr=gamma``, torch's other defaults, ``weight_decay=--weight-decay`` when it is
    > 0 (else torch's: 0 for Adam, 0.01 for AdamW); ``pkg.module:fn`` / ``path/file.py:fn``:
    that function, loaded inside the guard of the user's code."""
    name, gamma, wd = cfg["optimizer"], float(cfg["gamma"]), float(cfg["weight_decay"])
    origin = f"--optimizer={name}"
    if name == "plain":
        return None
    if name == "sgd":
        momentum = float(cfg["momentum"])
        return lambda p: torch.optim.SGD(p, lr=gamma, momentum=momentum, weight_decay=wd), origin
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        extra = {"weight_decay": wd} if wd > 0 else {}
        return lambda p: cls(p, lr=gamma, **extra), origin
    with user_code(f"{origin}: cannot load {name}"):
        factory = import_callable(name)
    return factory, origin
