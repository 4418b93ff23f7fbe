"""What a checkpoint keeps of a :class:`~crpsgd.torchprob.problem.TorchProblem` on its rank,
beyond ``x``: the momentum buffer (float32, if momentum > 0), BatchNorm running statistics
(float32) and counters (int64), the augmentation RNG state (uint8), a user's optimizer's
``state_dict()`` state (``optimizer:<param>:<key>``, :mod:`crpsgd.torch.optimizer`), torch's
generator and the model's other buffers (:mod:`crpsgd.torchprob.extra_state`), each in its
own dtype."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crpsgd.torchprob.extra_state import extra_state, load_extra_state

#: Arrays every checkpoint of a torch problem holds (others may be absent in older ones).
REQUIRED = ("norm_stats", "norm_batches", "augment_rng", "momentum")


def state_of(problem: Any) -> dict[str, np.ndarray]:
    """This rank's state of ``problem`` beyond ``x``."""
    state = {
        "norm_stats": problem.flat.norm_stats.detach().cpu().numpy().copy(),
        "norm_batches": problem.flat.counter_values(),
        "augment_rng": problem.generator.get_state().numpy().copy(),
    }
    if problem.update.velocity is not None:
        state["momentum"] = problem.update.velocity.copy()
    own = getattr(problem.update, "state_arrays", None)  # a user's optimizer: its state_dict
    if own is not None:
        state.update(own())
    return {**state, **extra_state(problem.flat)}


def load_state(problem: Any, arrays: dict[str, np.ndarray]) -> None:
    """Continue ``problem`` from what :func:`state_of` gave (shapes checked first)."""
    own = getattr(problem.update, "load_state_arrays", None)
    for key, ref in state_of(problem).items():
        if own is not None and key.startswith("optimizer:"):
            continue  # empty before the first step: the optimizer loads its own
        if key not in REQUIRED and key not in arrays:
            continue  # an older checkpoint: load_extra_state leaves it as it is
        got = arrays.get(key)
        if got is None or got.shape != ref.shape:
            raise ValueError(
                f"checkpoint state {key}: expected shape {ref.shape}, "
                f"got {None if got is None else got.shape}"
            )
    problem.flat.norm_stats.copy_(torch.from_numpy(arrays["norm_stats"].astype(np.float32)))
    problem.flat.set_counter_values(arrays["norm_batches"])
    problem.generator.set_state(torch.from_numpy(arrays["augment_rng"].astype(np.uint8)))
    if problem.update.velocity is not None:
        problem.update.velocity[:] = arrays["momentum"]
    load_extra_state(problem.flat, arrays)
    if own is not None:
        own(arrays)
