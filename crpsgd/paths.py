"""The files of a run, checked before anything is read or written.

* **Inputs** (``--data``, ``--test-data``, ``--config``, ``--resume``) that exist must be
  regular files (after following links): ``/dev/zero`` or a directory is refused, never read.
* **Outputs** (``--out`` and the checkpoint, ``--checkpoint`` or its default beside the log)
  must be regular files (not symbolic links) or not exist yet, with names short enough for
  the temporary file written beside them (:mod:`crpsgd.atomic_write`), and the place they
  go must be writable now: a file is created there and removed again, so a read-only place
  or a full quota is found at the start, not when the run stops after hours.
* **No aliases**: no output may be an input or the other output. Two names are the same file
  when their resolved paths are equal (``./x`` and ``x``, symbolic links) or, for existing
  files, when they are the same inode (hard links, bind mounts). The one exception: a resumed
  run writes its checkpoint over the ``--resume`` file it started from.

Every problem is a :class:`~crpsgd.errors.UsageError` naming the argument and the file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from crpsgd.atomic_write import check_name_fits, refuse_unsafe_target
from crpsgd.checkpoint import checkpoint_path_for
from crpsgd.data.in_process import PREFIX as IN_PROCESS
from crpsgd.errors import UsageError
from crpsgd.file_names import check_utf8_name
from crpsgd.outputs import reason

#: ``--resume``'s own file may be rewritten by the resumed run's checkpoint.
_MAY_ALIAS = {("--checkpoint", "--resume")}


def _is_synthetic(source: str) -> bool:
    """A source that is no file: synthetic rows, or an object of :mod:`crpsgd.data.in_process`."""
    return source == "synthetic" or source.startswith(("synthetic:", IN_PROCESS))


def check_input(flag: str, path: str | os.PathLike) -> None:
    """An input that exists must be a regular file (a missing one is its reader's message);
    its name must be UTF-8 text (:mod:`crpsgd.file_names`)."""
    check_utf8_name(flag, path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{flag}={path}: cannot read: {reason(exc)}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{flag}={path}: is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{flag}={path}: not a regular file (a device, pipe or socket)")


def check_output(flag: str, path: str | os.PathLike) -> None:
    """``path`` can be created (or replaced) now: a regular file or nothing, in a place where
    this process can create a file (tested by creating and removing one)."""
    check_utf8_name(flag, path)
    path = Path(path)
    exists = refuse_unsafe_target(path, f"{flag}={path}")  # a link: never written through
    check_name_fits(path, f"{flag}={path}")
    place = path.absolute().parent
    while not place.exists() and place != place.parent:
        place = place.parent  # the writer creates the missing directories below it
    if not place.is_dir():
        raise UsageError(f"{flag}={path}: {place} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".crpsgd-write-test-", dir=place)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{flag}={path}: cannot write in {place}: {reason(exc)}") from None
    if exists and not os.access(path, os.W_OK):
        raise UsageError(f"{flag}={path}: the file is not writable")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two names denote one file: equal resolved paths, or one existing inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def early_inputs(cli_values: dict[str, Any]) -> None:
    """The files read before the configuration is known (``--config``, ``--resume``), and
    the kind of an existing ``--out`` or ``--checkpoint`` given on the command line (so that
    ``--out /dev/null`` is "not a regular file", not "file exists")."""
    for key in ("config", "resume"):
        if cli_values.get(key):
            check_input(f"--{key}", cli_values[key])
    for key in ("out", "checkpoint"):
        if cli_values.get(key):
            # what the name leads to: a link is refused later, after the clearer message
            # when it leads to an input ("the same file as --data")
            target = os.path.realpath(cli_values[key])
            refuse_unsafe_target(target, f"--{key}={cli_values[key]}")


def checkpoint_of(cfg: dict[str, Any], out: str | os.PathLike) -> Path:
    """The checkpoint path of a run: ``--checkpoint``, else ``<out stem>.ckpt.h5``."""
    return Path(cfg["checkpoint"]) if cfg.get("checkpoint") else checkpoint_path_for(out)


def check_run_paths(
    cfg: dict[str, Any], out: str | os.PathLike, resume: str | None = None, active: bool = True
) -> None:
    """Every input, output and alias rule of the module docstring (on ``active`` ranks:
    rank 0, which writes the outputs; a no-op elsewhere)."""
    if not active:
        return
    inputs: dict[str, Any] = {"--config": cfg.get("config"), "--resume": resume}
    for key in ("data", "test_data"):
        source = cfg.get(key)
        if source is not None and not _is_synthetic(str(source)):
            inputs["--" + key.replace("_", "-")] = source
    inputs = {flag: path for flag, path in inputs.items() if path}
    outputs = {"--out": out, "--checkpoint": checkpoint_of(cfg, out)}
    for flag, path in inputs.items():
        check_input(flag, path)
    for flag, path in outputs.items():
        for other, other_path in inputs.items():
            if (flag, other) not in _MAY_ALIAS and same_file(path, other_path):
                raise UsageError(
                    f"{flag}={path}: is the same file as {other}={other_path}; the run would "
                    "overwrite it: name another file"
                )
    if same_file(outputs["--out"], outputs["--checkpoint"]):
        raise UsageError(
            f"--checkpoint={outputs['--checkpoint']}: is the same file as --out="
            f"{outputs['--out']}: name another file"
        )
    for flag, path in outputs.items():
        check_output(flag, path)
