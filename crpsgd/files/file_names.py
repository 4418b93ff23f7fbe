"""File names crpsgd can record: a name that is not UTF-8 text is refused at the boundary.

Python carries such a name (bytes ``\\xff`` from the command line) as a string with lone
surrogates; it opens the file, but the name cannot go into an HDF5 attribute (the run log's
``data_path``, a converted file's ``source``) or onto a UTF-8 terminal, which used to fail
later with a raw ``UnicodeEncodeError``. :func:`check_utf8_name` says so at once, naming
the argument, so that the user can rename the file.
"""

from __future__ import annotations

import os

from crpsgd.errors import UsageError


def check_utf8_name(flag: str, path: str | os.PathLike) -> None:
    """:class:`UsageError` ``"<flag>=<name>: the name is not UTF-8 text ..."`` (``"<name>:
    ..."`` without a flag) when ``path`` holds bytes that are not UTF-8; the name is shown
    with those bytes as ``\\xNN``."""
    name = os.fsdecode(os.fspath(path))
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(name).decode("ascii", "backslashreplace")
        raise UsageError(
            f"{f'{flag}=' if flag else ''}{shown}: the name is not UTF-8 text, which the run "
            "log and the messages need; rename the file (or folder)"
        ) from None
