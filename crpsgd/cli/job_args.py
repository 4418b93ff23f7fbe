"""What the batch scripts ask crpsgd instead of computing it in shell
(``jobs/resumable_run.sbatch``).

``python -m crpsgd.cli.job_args checkpoint LOG [RUN FLAGS...]`` prints the checkpoint path a run
with ``--out LOG`` and those flags writes: ``--checkpoint`` when given, else the log's stem
plus ``.ckpt.h5`` (``run.hdf5`` -> ``run.ckpt.h5``), exactly as ``crpsgd run`` computes it
(:func:`crpsgd.files.paths.checkpoint_of`).

``python -m crpsgd.cli.job_args split TEXT`` prints the words of ``TEXT`` split as a POSIX shell
splits a command line (quotes and backslashes group words, nothing is expanded or run),
each followed by a NUL byte, for ``mapfile -d '' -t ARRAY``. A quote left open is exit
status 2 with one message.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def checkpoint_for(log: str, flags: list[str]) -> Path:
    """The checkpoint of ``crpsgd run --out LOG FLAGS``: the last ``--checkpoint`` among
    ``flags`` (``--checkpoint X`` or ``--checkpoint=X``), else ``<log stem>.ckpt.h5``."""
    from crpsgd.files.paths import checkpoint_of

    given = None
    for i, flag in enumerate(flags):
        if flag == "--checkpoint" and i + 1 < len(flags):
            given = flags[i + 1]
        elif flag.startswith("--checkpoint="):
            given = flag.split("=", 1)[1]
    return checkpoint_of({"checkpoint": given}, log)


def split_words(text: str) -> list[str]:
    """The words of ``text`` as a POSIX shell splits them, without expanding anything."""
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError as exc:
        from crpsgd.errors import UsageError

        raise UsageError(f"CRPSGD_RUN_ARGS={text!r}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    """The command line of the module docstring; returns the exit status."""
    from crpsgd.errors import UsageError

    args = sys.argv[1:] if argv is None else argv
    try:
        if len(args) >= 2 and args[0] == "checkpoint":
            print(checkpoint_for(args[1], args[2:]))
        elif len(args) == 2 and args[0] == "split":
            sys.stdout.write("".join(word + "\0" for word in split_words(args[1])))
        else:
            raise UsageError(
                "usage: python -m crpsgd.cli.job_args checkpoint LOG [FLAGS...] | split TEXT"
            )
    except UsageError as exc:
        print(f"crpsgd: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
