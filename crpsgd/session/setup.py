"""Set-up steps of ``crpsgd run`` before the loop: error agreement, ``--out``, ``--resume``
and the run log's root attributes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from crpsgd import __version__
from crpsgd.comm.communicator import Communicator, mpi_library_version
from crpsgd.data.loader import data_identity
from crpsgd.errors import UsageError
from crpsgd.files.checkpoint import Checkpoint, read_checkpoint
from crpsgd.params import convert
from crpsgd.registry.config import RESUME_OVERRIDES
from crpsgd.registry.param_table import all_params
from crpsgd.registry.parts import schedule_log_columns
from crpsgd.runlog import NullRunLog, RunLog, refuse_if_live
from crpsgd.session.resume_check import check_resume_flags


def agree(comm: Communicator, step: Any, *args: Any) -> Any:
    """Run ``step(*args)`` on every rank; if it raised on any rank, raise on all."""
    try:
        result, error = step(*args), None
    except (UsageError, OSError) as exc:
        result, error = None, exc if isinstance(exc, UsageError) else UsageError(str(exc))
    comm.raise_if_any(error)
    return result


def default_out(cfg: dict[str, Any], n_workers: int) -> str:
    return f"runs/{cfg['algo']}-N{n_workers}-seed{cfg['seed']}.h5"


def check_out(path: Path, overwrite: bool, comm: Communicator) -> None:
    """``--out`` may be created: absent, or ``--overwrite`` and no live run writing it."""
    if not comm.is_root:
        return
    refuse_if_live(path)
    if path.exists() and not overwrite:
        raise UsageError(f"--out={path}: file exists (pass --overwrite to replace it)")


def read_resume(cli_values: dict[str, Any], n_workers: int) -> Checkpoint:
    """The checkpoint of ``--resume`` with the few flags a resumed run may change applied;
    parameters the checkpoint's configuration lacks (added since) get their defaults."""
    by_name = {p.name: p for p in all_params()}
    ckpt = read_checkpoint(cli_values["resume"])
    check_resume_flags(cli_values, ckpt.config)  # a flag equal to the old value is no change
    if ckpt.n_workers != n_workers:
        raise UsageError(
            f"--resume={cli_values['resume']}: written by a run on {ckpt.n_workers} ranks; "
            f"resume it on {ckpt.n_workers} ranks, not {n_workers} (the random streams and "
            "data shards depend on the rank count)"
        )
    for name, p in by_name.items():
        ckpt.config.setdefault(name, p.default)
    for key in RESUME_OVERRIDES:
        if cli_values.get(key) is not None:
            ckpt.config[key] = convert(by_name[key], cli_values[key], "command line")
    return ckpt


def resume_log(comm: Communicator, out: Path, rounds: int) -> RunLog | NullRunLog:
    return RunLog.resume(out, rounds) if comm.is_root else NullRunLog()


def open_log(
    cfg: dict[str, Any],
    comm: Communicator,
    out: Path,
    n_total: int,
    sample_shape: tuple[int, ...],
    smoothness_and_bound: tuple[float, str],
    gamma: float,
    f_star: float | None,
    f_star_note: str,
    run_id: str = "",
) -> RunLog | NullRunLog:
    """Rank 0 creates the log with every root attribute; other ranks hold a null log.
    ``data_shape`` is ``(n_total, *sample_shape)``: the data's, never the model's size."""
    if not comm.is_root:
        return NullRunLog()
    smoothness, smoothness_bound = smoothness_and_bound
    ident = data_identity(cfg["data"])
    attrs = {
        "crpsgd_version": __version__,
        "algorithm": cfg["algo"],
        "problem": cfg["problem"],
        "config": json.dumps(cfg, sort_keys=True),
        "n_workers": comm.size,
        "seed": cfg["seed"],
        "data_path": ident["path"],
        "data_kind": ident["kind"],
        "data_shape": (n_total, *sample_shape),
        "data_sha256": ident["sha256"],
        "data_note": ident.get("note", ""),  # what the data is, e.g. a stand-in's warning
        "mpi_library": mpi_library_version(),
        "backend": comm.backend,  # the collectives' library: mpi or torch.distributed (gloo)
        "smoothness_L": smoothness,
        "smoothness_bound": smoothness_bound,
        "step_size": gamma,
        "f_star": np.nan if f_star is None else f_star,
        "f_star_source": f_star_note,
        "command": " ".join(sys.argv),
        "run_id": run_id,  # which run the log belongs to (checked at --resume)
    }
    if cfg["test_data"] is not None:
        test_ident = data_identity(cfg["test_data"])
        attrs.update(test_data_path=test_ident["path"], test_data_sha256=test_ident["sha256"])
    optional = schedule_log_columns(cfg)
    return RunLog(out, attrs, overwrite=cfg["overwrite"], optional_rounds=optional)
