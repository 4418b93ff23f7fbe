"""Every file crpsgd writes is written to a temporary name beside it and renamed.

The rule, for the outputs of ``convert``, ``digits-cifar10``, ``export``, ``plot``, the
repair of a killed log and checkpoints:

* the target, when it exists, must be a regular file (or ``overwrite`` is needed first): a
  symbolic link, a directory, a device, a FIFO or a socket is refused with one
  :class:`~crpsgd.errors.UsageError` naming it, before anything is written (so
  ``convert IN /dev/null --overwrite`` never replaces ``/dev/null``, and a link into a real
  data set is never written through);
* the bytes go to a new file created exclusively beside the target (``.NAME.XXXX.tmp``:
  never an existing name, so never through a link or into a FIFO), are flushed to disk,
  and the file is renamed over the target only when every file of the group is complete;
* on any failure every temporary file is removed and no target is touched: a full disk
  leaves the previous files, not partial ones.

Run logs are the exception: ``run --out`` is written in place (HDF5 SWMR, so that a killed
job keeps its rows); :func:`crpsgd.files.paths.check_output` applies the same refusals to it.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from types import TracebackType

from crpsgd.errors import UsageError
from crpsgd.files.file_names import check_utf8_name
from crpsgd.files.outputs import reason


def refuse_unsafe_target(path: str | os.PathLike, where: str) -> bool:
    """Whether ``path`` exists as a regular file; :class:`UsageError` ``"<where>: ..."`` when
    it is a symbolic link, a directory or not a regular file (``where`` names the argument,
    e.g. ``--out=run.h5``, or the file)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UsageError(f"{where}: cannot use: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise UsageError(
            f"{where}: is a symbolic link (to {os.readlink(path)}); crpsgd does not write "
            "through links: name the file itself"
        )
    if stat.S_ISDIR(mode):
        raise UsageError(f"{where}: is a directory; name a file")
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"{where}: not a regular file (a device, pipe or socket); crpsgd writes only "
            "regular files"
        )
    return True


#: Bytes a temporary name adds to its target's name: ``"." + NAME + "." + 8 hex + ".tmp"``.
TEMP_EXTRA_BYTES = 14


def check_name_fits(path: str | os.PathLike, where: str) -> None:
    """:class:`UsageError` when the temporary name written beside ``path`` would be longer
    than its file system allows (``NAME_MAX``, 255 bytes on most): found at the start, not
    when a run stops after hours and cannot write its checkpoint."""
    path = Path(path)
    place = path.absolute().parent
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        limit = os.pathconf(place, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    need = len(os.fsencode(path.name)) + TEMP_EXTRA_BYTES
    if need > limit:
        raise UsageError(
            f"{where}: the file name is {need - TEMP_EXTRA_BYTES} bytes; the temporary file "
            f"written beside it needs {need}, more than the {limit} this file system allows: "
            "name a shorter file"
        )


def _create_new(path: Path) -> Path:
    """A new empty file ``.NAME.XXXXXXXX.tmp`` beside ``path``, created exclusively (an
    existing name, a link included, is never opened) with the mode a plain create gives
    (0666 less the umask: the renamed file is as readable as one written directly)."""
    for _ in range(100):
        name = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return name
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


class AtomicFiles:
    """A group of output files written to temporaries and renamed together at the end.

    ``with AtomicFiles() as files: write(files.temp(path, where))``: each :meth:`temp` checks
    its target (:func:`refuse_unsafe_target`, and ``overwrite``) and returns a new empty
    temporary file beside it; leaving the block normally flushes each to disk and renames it
    over its target; leaving it by an exception removes them all and touches no target.
    With ``usage_errors`` (the default) an ``OSError`` while writing or renaming (a full
    disk) leaves as one :class:`UsageError` ``"<where>: cannot write: [Errno 28] ..."``
    naming the file last begun.
    """

    def __init__(self, usage_errors: bool = True) -> None:
        self._pending: list[tuple[Path, Path, str]] = []
        self._usage_errors = usage_errors

    def temp(self, path: str | os.PathLike, where: str, overwrite: bool = True) -> Path:
        """A temporary file for ``path`` (its folders created when missing)."""
        check_utf8_name("", path)
        path = Path(path)
        if refuse_unsafe_target(path, where) and not overwrite:
            raise UsageError(f"{where}: file exists (pass --overwrite to replace it)")
        check_name_fits(path, where)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            name = _create_new(path)
        except OSError as exc:
            raise UsageError(f"{where}: cannot write: {exc.strerror or exc}") from None
        self._pending.append((name, path, where))
        return name

    def commit(self) -> list[Path]:
        """Flush every temporary to disk and rename it over its target; returns the targets."""
        for tmp, path, where in self._pending:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            refuse_unsafe_target(path, where)  # again: it may have changed while we wrote
        for tmp, path, _ in self._pending:
            os.replace(tmp, path)
        done = [path for _, path, _ in self._pending]
        self._pending = []
        return done

    def discard(self) -> None:
        """Remove every temporary file (errors ignored: the first failure is the one told)."""
        for tmp, _, _ in self._pending:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        self._pending = []

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            try:
                self.commit()
            except BaseException as failure:
                self._fail(failure)
                raise
            return
        self._fail(exc)

    def _fail(self, exc: BaseException | None) -> None:
        """Discard the temporaries; an ``OSError`` becomes the :class:`UsageError`."""
        where = self._pending[-1][2] if self._pending else ""
        self.discard()
        if self._usage_errors and isinstance(exc, OSError) and where:
            raise UsageError(f"{where}: cannot write: {reason(exc)}") from None
