"""The device of ``--device``: ``cpu``, or ``cuda`` when a CUDA device is available."""

from __future__ import annotations

import torch

from crpsgd.errors import UsageError


def resolve_device(device: str) -> str:
    if device == "cpu":
        return device
    if device == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device=cuda: no CUDA device is available (use --device cpu)")
        return device
    raise UsageError(f"--device={device}: expected cpu or cuda")
