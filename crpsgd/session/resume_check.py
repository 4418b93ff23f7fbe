"""What ``--resume`` checks before a run continues: its flags, its log, its data.

A checkpoint records the ``run_id`` of the log it belongs to (a random identifier the log
gets when it is created, kept when it is resumed) and the sha256 of every data file the run
read (:func:`input_identities`). At ``--resume``, rank 0 (:func:`verify_resume`) refuses,
with one message saying which file changed:

* a log that is missing, not a regular file, truncated or unreadable;
* a log with another ``run_id`` (replaced since, e.g. by another run with ``--overwrite``);
* a log that lacks a row of a round the checkpoint has done (an older copy put back);
* a data or test-data file whose sha256 differs from the one recorded;
* a model that is not the one recorded (:func:`check_identity`, after the problem is built).

Flags given with ``--resume`` (:func:`check_resume_flags`): only the ones of
``RESUME_OVERRIDES`` may change; any other flag is accepted when its value is the one the
checkpointed run used (for file names: the same file), and refused otherwise.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from crpsgd.data.loader import data_identity, same_source
from crpsgd.errors import UsageError
from crpsgd.files.checkpoint import Checkpoint
from crpsgd.files.hdf5_open import hdf5_truncation
from crpsgd.files.outputs import reason
from crpsgd.files.paths import same_file
from crpsgd.params import convert
from crpsgd.registry.config import PARAMS_BY_NAME, RESUME_OVERRIDES

_FILE_KEYS = ("out", "data", "test_data", "checkpoint", "config")
_DATA_KEYS = ("data", "test_data")


def new_run_id() -> str:
    """A fresh identifier for a new run's log (32 hex digits, random)."""
    return uuid.uuid4().hex


def input_identities(cfg: dict[str, Any], active: bool = True) -> dict[str, dict[str, str]]:
    """``{"data": {"source", "sha256"}, "test_data": ...}`` of the run's data sources (on
    ``active`` ranks: rank 0, which writes the checkpoint; ``{}`` elsewhere)."""
    found: dict[str, dict[str, str]] = {}
    if not active:
        return found
    for key in _DATA_KEYS:
        if cfg.get(key) is not None:
            ident = data_identity(cfg[key])
            found[key] = {"source": str(cfg[key]), "sha256": ident["sha256"]}
    return found


def _unchanged(key: str, raw: Any, old: Any) -> bool:
    param = PARAMS_BY_NAME[key]
    try:
        value = convert(param, raw, "command line")
    except UsageError:
        return False
    if value == old:
        return True
    if key in _DATA_KEYS and old is not None:
        return same_source(str(value), str(old))
    return key in _FILE_KEYS and old is not None and same_file(str(value), str(old))


def check_resume_flags(cli_values: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse flags that would change the checkpointed run (see the module docstring)."""
    given = [
        PARAMS_BY_NAME[k].flag
        for k, v in cli_values.items()
        if v is not None
        and k in PARAMS_BY_NAME
        and k not in RESUME_OVERRIDES
        and not _unchanged(k, v, config.get(k))
    ]
    if cli_values.get("config"):
        given.append("--config")
    if given:
        raise UsageError(
            f"--resume={cli_values['resume']}: the run continues with the configuration of the "
            f"checkpoint; {', '.join(given)} cannot be changed (only "
            + ", ".join(PARAMS_BY_NAME[k].flag for k in RESUME_OVERRIDES)
            + ")"
        )


def _read_log(path: Path) -> tuple[dict[str, Any], np.ndarray]:
    """Root attributes and the ``/rounds/round`` column of a run log, opened as every reader
    opens one (:func:`crpsgd.runlog.repair.open_for_reading`: a SWMR reader for a log whose
    writer was killed, refused when damaged)."""
    from crpsgd.runlog.repair import open_for_reading

    with open_for_reading(path) as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        rounds = f["rounds"]["round"][()] if "rounds" in f and "round" in f["rounds"] else None
    if rounds is None:
        raise KeyError("no /rounds/round column")
    return attrs, np.asarray(rounds)


def verify_resume(ckpt: Checkpoint, resume: str | os.PathLike, active: bool = True) -> None:
    """The checks of the module docstring on the checkpoint's log and data (on ``active``
    ranks: rank 0; a no-op elsewhere)."""
    if not active:
        return
    where = f"--resume={resume}"
    log = Path(ckpt.config.get("out") or ckpt.log_path)
    if not log.exists():
        raise UsageError(f"{where}: its run log {log} is missing")
    if not log.is_file():
        raise UsageError(f"{where}: its run log {log} is not a regular file")
    cut = hdf5_truncation(log)
    if cut is not None:
        raise UsageError(
            f"{where}: its run log {log} is truncated ({cut[0]} bytes of {cut[1]}); it changed "
            "since the checkpoint was written"
        )
    try:
        attrs, rounds = _read_log(log)
    except Exception as exc:
        raise UsageError(f"{where}: cannot read its run log {log}: {reason(exc)}") from None
    if ckpt.run_id and str(attrs.get("run_id", "")) != ckpt.run_id:
        raise UsageError(
            f"{where}: the run log {log} belongs to another run (run_id "
            f"{attrs.get('run_id') or 'none'}, the checkpoint's is {ckpt.run_id}): it was "
            "replaced since the checkpoint was written"
        )
    kept = int(np.count_nonzero(rounds <= ckpt.rounds))
    if ckpt.run_id and kept != ckpt.rounds:
        raise UsageError(
            f"{where}: the run log {log} holds {kept} of the {ckpt.rounds} rounds the "
            "checkpoint has done: it changed since the checkpoint was written"
        )
    for key, recorded in ckpt.inputs.items():
        now = data_identity(recorded["source"])["sha256"]
        if now != recorded["sha256"]:
            flag = "--" + key.replace("_", "-")
            raise UsageError(
                f"{where}: the {flag} file {recorded['source']} changed since the checkpoint "
                f"was written (sha256 {recorded['sha256'][:16]}... then, {now[:16]}... now)"
            )


def check_identity(
    recorded: dict[str, str] | None, now: dict[str, str], where: str, origin: str
) -> None:
    """Refuse a resumed run whose problem's :attr:`~crpsgd.problems.base.Problem.identity`
    (``now``; a torch model's: :mod:`crpsgd.torchprob.identity`) is not the one
    ``recorded`` in the checkpoint (None: an older checkpoint, nothing to compare).
    ``where`` names ``--resume``, ``origin`` what built the problem (``--model=m:f``)."""
    if not recorded:
        return
    if recorded.get("architecture") != now["architecture"]:
        what = "its architecture (module types, parameter names and shapes) differs"
        if recorded.get("parameters") != now["parameters"]:
            what += f": {now['parameters']} parameters now, {recorded.get('parameters')} then"
    elif recorded.get("source") and now["source"] and recorded["source"] != now["source"]:
        what = "the source of its build callable differs"
    else:
        return
    raise UsageError(
        f"{where}: {origin} is not the model the checkpoint was written with ({what}); "
        "resume with the model of the interrupted run"
    )
