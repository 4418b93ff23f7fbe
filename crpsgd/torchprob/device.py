"""The device of ``--device`` (``cpu``, or ``cuda`` when a CUDA device is available) and the
forward pass's precision of ``--amp``.

``--amp bf16`` runs the training forward pass (model and loss) under
``torch.autocast(device, dtype=torch.bfloat16)``: matrix products and convolutions in
bfloat16 (8 bits of mantissa), reductions and the loss in float32; parameters, gradients,
the round's buffer and the update stay float32. Evaluations (the logged objective, its
gradient norm, accuracy) run in float32. On a CPU it is PyTorch's CPU autocast (correct, and
on most CPUs slower than float32: for tests and for CPUs with bfloat16 units).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

from crpsgd.errors import UsageError

AMP_CHOICES = ("off", "bf16")


def resolve_device(device: str) -> str:
    if device == "cpu":
        return device
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device=cuda: no CUDA device is available (use --device cpu)")
        return device
    raise UsageError(f"--device={device}: expected cpu or cuda")


def amp_context(device: str, amp: str) -> Callable[[], Any]:
    """A factory of the training forward pass's context: a bfloat16 ``torch.autocast`` on
    ``device`` for ``amp="bf16"``, nothing for ``"off"``."""
    if amp == "off":
        return contextlib.nullcontext
    if amp == "bf16":
        return lambda: torch.autocast(device_type=device, dtype=torch.bfloat16)
    raise UsageError(f"--amp={amp}: expected one of {', '.join(AMP_CHOICES)}")
