"""The trained ``state_dict`` of a torch run: ``<out stem>.pt`` beside the run log.

Written by rank 0 once the run has completed (``crpsgd run --problem torch`` and
:func:`crpsgd.torch.train` alike), atomically (a file of that name is either the previous
one or the complete new one). It holds every entry of the model's ``state_dict()``
(parameters, BatchNorm running statistics and counters, other buffers) as CPU tensors, so
``model.load_state_dict(torch.load(path))`` gives a fresh model the trained one's outputs.
Before any round, rank 0 checks that the file can be written and, unless ``--overwrite``,
that none exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crpsgd.errors import UsageError
from crpsgd.files.atomic_write import AtomicFiles
from crpsgd.files.paths import check_output


def state_path(out: str | Path) -> Path:
    """``<out stem>.pt``: the state file of the run logged in ``out``."""
    return Path(out).with_suffix(".pt")


def check_state_file(cfg: dict[str, Any], is_root: bool) -> None:
    """On rank 0: refuse an existing state file (unless ``--overwrite``) or one that cannot
    be written, naming ``--out``."""
    if not is_root or not cfg.get("out"):
        return
    path = state_path(cfg["out"])
    if path.exists() and not cfg["overwrite"]:
        raise UsageError(
            f"--out={cfg['out']}: the state_dict file {path} exists (pass --overwrite, or "
            "overwrite=True, to replace it)"
        )
    check_output("--out", path)


def save_state_dict(model: Any, path: Path) -> None:
    """Write ``model.state_dict()`` (CPU copies) to ``path`` atomically."""
    import torch

    state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
    with AtomicFiles() as files:
        torch.save(state, files.temp(path, f"--out: {path}"))
