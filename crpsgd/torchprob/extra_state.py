"""The parts of a torch model's state that the flat buffers do not hold, for bit-for-bit runs.

* torch's global generator, which ``Dropout`` (and any ``torch.rand`` in a forward) draws
  from: seeded on every rank from the run's seed stream (``SeedSequence(seed, spawn_key=
  (rank, 2))``, beside the sampling stream ``(rank,)`` and the augmentation stream
  ``(rank, 1)``), so two runs with the same seed and ``N`` are equal, and kept in checkpoints
  (``torch_rng``; ``cuda_rng`` on a GPU) so that a resumed run draws what the uninterrupted
  one would have;
* every buffer other than the normalisation layers' (which live in the flat ``norm_stats``
  and counters): ``spectral_norm``'s ``u`` and ``v``, a buffer the model registers itself.
  A checkpoint keeps each as ``buffer:<name>``.

Checkpoints store arrays as float64: exact for the generator states (bytes) and for float16,
float32 and float64 buffers (and integer buffers below 2^53).
"""

from __future__ import annotations

import numpy as np
import torch

from crpsgd.torchprob.flat import FlatModule

GLOBAL_STREAM = 2  # spawn key of torch's global generator beside the rank's other streams


def seed_global_generator(seed: int, rank: int) -> None:
    """Seed torch's global generator (and CUDA's) with rank ``rank``'s stream of ``seed``."""
    seq = np.random.SeedSequence(seed, spawn_key=(rank, GLOBAL_STREAM))
    torch.manual_seed(int(seq.generate_state(1, np.uint64)[0] >> 1))


def other_buffers(flat: FlatModule) -> list[tuple[str, torch.Tensor]]:
    """``(name, buffer)`` of every buffer of the module outside the flat ``norm_stats`` and
    the normalisation counters, in module order."""
    owned = {id(getattr(m, n)) for m, n in (*flat.norm_entries, *flat.counters)}
    return [(n, b) for n, b in flat.module.named_buffers() if id(b) not in owned]


def extra_state(flat: FlatModule) -> dict[str, np.ndarray]:
    """The generator states and the other buffers (see the module docstring)."""
    state = {"torch_rng": torch.get_rng_state().numpy().copy()}
    if flat.device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(flat.device).numpy().copy()
    for name, buf in other_buffers(flat):
        state[f"buffer:{name}"] = buf.detach().cpu().numpy().copy()
    return state


def load_extra_state(flat: FlatModule, arrays: dict[str, np.ndarray]) -> None:
    """Restore what :func:`extra_state` saved; a key the checkpoint lacks (written by an
    older version) is left as it is."""
    if "torch_rng" in arrays:
        torch.set_rng_state(torch.from_numpy(arrays["torch_rng"].astype(np.uint8)))
    if "cuda_rng" in arrays and flat.device.type == "cuda":
        torch.cuda.set_rng_state(torch.from_numpy(arrays["cuda_rng"].astype(np.uint8)), flat.device)
    for name, buf in other_buffers(flat):
        saved = arrays.get(f"buffer:{name}")
        if saved is not None:
            with torch.no_grad():
                buf.copy_(torch.from_numpy(np.asarray(saved)).to(buf.dtype))
