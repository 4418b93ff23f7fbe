"""A module's parameters and gradients as views into one flat buffer each.

As PyTorch FSDP's ``FlatParameter`` does, every parameter's ``.data`` becomes a view into one
contiguous float32 tensor ``params`` (order: ``module.parameters()``, shared parameters once)
and every ``.grad`` a view into ``grads`` of the same layout. Autograd accumulates into an
existing ``.grad`` in place, so one ``backward`` fills ``grads`` and a round Allreduces that
one buffer: no per-tensor collectives, no copies. Nothing may set ``.grad`` to None
(``module.zero_grad()`` does by default): zero the flat buffer instead
(:meth:`FlatModule.zero_grads`); :meth:`FlatModule.check_views` detects a broken view, and
:meth:`FlatModule.gather_grads` mends one (a user's own loop, whose optimizer may do so).

The running statistics of normalisation layers (BatchNorm's ``running_mean`` and
``running_var``, updated in place in training mode) are views into a third float32 buffer
``norm_stats``, so averaging them over ranks is one collective; the integer counters
``num_batches_tracked`` are kept apart (:attr:`FlatModule.counters`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

#: what a round says when a gradient left :attr:`FlatModule.grads` (as check_views does)
GRADIENT_LOST = (
    "a gradient of the model left the flat buffer (was .grad set to None, e.g. by "
    "module.zero_grad()?)"
)


class FlatModule:
    """Owns ``module`` (converted to float32 on ``device``) and its flat buffers."""

    def __init__(self, module: nn.Module, device: str = "cpu") -> None:
        module.to(device=device, dtype=torch.float32)
        self.module = module
        self.device = torch.device(device)
        self._params = list(module.parameters())
        dim = sum(p.numel() for p in self._params)
        self.params = torch.zeros(dim, dtype=torch.float32, device=device)
        self.grads = torch.zeros(dim, dtype=torch.float32, device=device)
        offset = 0
        for p in self._params:
            n = p.numel()
            view = self.params[offset : offset + n].view_as(p)
            view.copy_(p.data)
            p.data = view
            p.grad = self.grads[offset : offset + n].view_as(p)
            offset += n
        self.dim = dim
        self._grad_views = [p.grad for p in self._params]
        self._stats: list[tuple[nn.Module, str]] = []
        self.counters: list[tuple[nn.Module, str]] = []
        for mod in module.modules():
            if not isinstance(mod, _NormBase):
                continue
            for name, buf in mod.named_buffers(recurse=False):
                if buf is None:
                    continue
                if buf.is_floating_point():
                    self._stats.append((mod, name))
                else:
                    self.counters.append((mod, name))
        sizes = [getattr(m, n).numel() for m, n in self._stats]
        self.norm_stats = torch.zeros(sum(sizes), dtype=torch.float32, device=device)
        offset = 0
        for (mod, name), n in zip(self._stats, sizes, strict=True):
            old = getattr(mod, name)
            view = self.norm_stats[offset : offset + n].view_as(old)
            view.copy_(old)
            setattr(mod, name, view)
            offset += n

    @property
    def norm_entries(self) -> list[tuple[nn.Module, str]]:
        """``(module, buffer name)`` of every statistic held in :attr:`norm_stats`."""
        return list(self._stats)

    def zero_grads(self) -> None:
        self.grads.zero_()

    def grads_in_place(self) -> bool:
        """Whether every parameter's ``.grad`` is still its view of :attr:`grads` (one
        identity test per parameter tensor: cheap enough for every round)."""
        return all(p.grad is v for p, v in zip(self._params, self._grad_views, strict=True))

    def gather_grads(self) -> None:
        """Bring every gradient back into :attr:`grads`: one that autograd left in a tensor
        of its own (after ``.grad`` was set to None, as ``optimizer.zero_grad()`` does) is
        copied into its view, which becomes ``.grad`` again; a parameter without a gradient
        (None: unused in this backward) gets zeros. Nothing to do while the views hold."""
        for p, view in zip(self._params, self._grad_views, strict=True):
            if p.grad is view:
                continue
            if p.grad is None:
                view.zero_()
            else:
                view.copy_(p.grad)
            p.grad = view

    def check_views(self) -> None:
        """Raise if a parameter, gradient or statistic no longer lives in its flat buffer
        (e.g. after ``module.zero_grad()`` or a module that replaced a tensor)."""
        for p, (base, what) in (
            *((p, (self.params, "parameter")) for p in self._params),
            *((p.grad, (self.grads, "gradient")) for p in self._params),
        ):
            if p is None or p.untyped_storage().data_ptr() != base.untyped_storage().data_ptr():
                raise RuntimeError(
                    f"a {what} of the model left the flat buffer (was .grad set to None, "
                    "e.g. by module.zero_grad()?)"
                )
        for mod, name in self._stats:
            t = getattr(mod, name)
            if t.untyped_storage().data_ptr() != self.norm_stats.untyped_storage().data_ptr():
                raise RuntimeError(f"the statistic {name} of {type(mod).__name__} was replaced")

    def counter_values(self) -> np.ndarray:
        """``num_batches_tracked`` of every normalisation layer, int64, in module order."""
        return np.array([int(getattr(m, n)) for m, n in self.counters], dtype=np.int64)

    def set_counter_values(self, values: np.ndarray) -> None:
        for (mod, name), v in zip(self.counters, values, strict=True):
            getattr(mod, name).fill_(int(v))


def numpy_view(t: torch.Tensor) -> np.ndarray:
    """The CPU tensor ``t`` as a NumPy array sharing its memory (no copy)."""
    return t.detach().numpy()
