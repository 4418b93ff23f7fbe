"""Objects a Python caller passes where ``crpsgd run`` takes a name (``--data``, ``--model``).

:func:`crpsgd.torch.train` takes a ``Dataset`` and an ``nn.Module`` rather than a file and a
``pkg.module:build``. It holds each object here for the length of the run under a source
string ``python:<label>#<key>`` and passes that string as the flag's value, so that the run
goes through the one path of ``crpsgd run`` (checks, log, evaluation). The readers ask
:func:`is_in_process` first and :func:`lookup` the object; nothing here imports torch.

The log records such a source as kind ``"python"``, its path as the source string and its
``sha256`` as that of the string (the object has no file to hash).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from crpsgd.errors import UsageError

PREFIX = "python:"
_held: dict[str, Any] = {}
_keys = itertools.count(1)


def is_in_process(source: object) -> bool:
    """Whether ``source`` names an object held here (``python:...``)."""
    return isinstance(source, str) and source.startswith(PREFIX)


@contextmanager
def holding(obj: Any, label: str) -> Iterator[str]:
    """Hold ``obj`` under a new source string for the body of the ``with``; yields it.
    ``label`` says what the object is (a class name) in logs and messages."""
    source = f"{PREFIX}{label}#{next(_keys)}"
    _held[source] = obj
    try:
        yield source
    finally:
        del _held[source]


def lookup(source: str) -> Any:
    """The object held under ``source``; :class:`UsageError` when none is (e.g. the
    checkpoint of an in-process run given to ``crpsgd run --resume``: no object was saved)."""
    try:
        return _held[source]
    except KeyError:
        raise UsageError(
            f"{source}: an object passed to crpsgd.torch.train, not held in this process "
            "(runs of in-process objects cannot be resumed from the command line)"
        ) from None


def label_of(source: str) -> str:
    """The label part of ``source`` (``python:TensorDataset#3`` -> ``TensorDataset``)."""
    return source[len(PREFIX) :].rpartition("#")[0]


def identity(source: str) -> dict[str, str]:
    """``{"path", "sha256", "kind"}`` as :func:`crpsgd.data.loader.data_identity` gives."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    return {"path": source, "sha256": digest, "kind": "python"}
