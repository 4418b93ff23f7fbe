"""The data-source registry: how a ``--data`` value names its reader, declared once per reader.

A :class:`DataSource` says which values it claims (a prefix such as ``synthetic:`` or
``cifar10:``, a file suffix or signature), whether the value names a file that the run's
path checks treat as an input, how two spellings are compared (resume), what the run log
records about it (``identity``), its layout (``rows`` for the tabular problems, ``images``
for the torch image pipeline) and, for rows, how a rank reads its shard. Loading
(:mod:`crpsgd.data.loader`), the run's path checks (:mod:`crpsgd.session.run_paths`), the
resume check and the torch data builder all ask :func:`source_of` and never test a prefix
themselves.

The built-in sources are declared in :mod:`crpsgd.data.builtin_sources` (loaded on first
use, like the built-in parts); a plugin adds one with :func:`register_source` before the
catch-all LIBSVM reader is consulted.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crpsgd.errors import UsageError

#: ``(source, rank, size, n_features) -> (this rank's Dataset, total rows n)``
LoadRows = Callable[[str, int, int, "int | None"], tuple[Any, int]]
#: ``(source, n_features) -> (n_rows, n_features)``
DescribeRows = Callable[[str, "int | None"], tuple[int, int]]
#: ``(source, rank, size, test source or None) -> (train, test)`` shards of the torch
#: pipeline (:class:`~crpsgd.data.images.ImageShard`: images, or objects held in process)
LoadImages = Callable[[str, int, int, "str | None"], tuple[Any, Any]]

BUILTIN_SOURCES = "crpsgd.data.builtin_sources"


@dataclass(frozen=True)
class DataSource:
    """One kind of ``--data`` value and what the run needs to know of it."""

    kind: str
    help: str
    claims: Callable[[str], bool]
    identity: Callable[[str], dict[str, Any]]
    #: Whether the value is itself a file path that the run's input checks apply to.
    names_a_file: bool = True
    #: ``(a, b) -> bool``: two spellings of one source (for ``names_a_file``: the same file).
    same: Callable[[str, str], bool] | None = None
    layout: str = "rows"
    load_rows: LoadRows | None = None
    load_shards: LoadImages | None = None
    describe_rows: DescribeRows | None = None
    #: Whether a file of this kind stores its width (a LIBSVM file does not).
    stores_width: bool = True


_SOURCES: list[DataSource] = []
_FALLBACK: list[DataSource] = []


def register_source(source: DataSource, fallback: bool = False) -> DataSource:
    """Add a reader; ``fallback``: consulted last, for whatever no other reader claims. The
    built-in readers come first whatever is imported first, so that a reader added later
    (``pkg.module:fn``) cannot claim what they name (``cifar10:DIR``)."""
    _load_builtin()
    if any(s.kind == source.kind for s in (*_SOURCES, *_FALLBACK)):
        raise UsageError(f"data source {source.kind!r} is registered twice")
    (_FALLBACK if fallback else _SOURCES).append(source)
    return source


def registered_sources() -> list[DataSource]:
    _load_builtin()
    return [*_SOURCES, *_FALLBACK]


def source_of(value: str) -> DataSource:
    """The reader of the ``--data`` value ``value``: the first that claims it."""
    for source in registered_sources():
        if source.claims(value):
            return source
    raise UsageError(f"--data={value}: no reader for this source")


def rows_source(value: str, flag: str = "--data") -> DataSource:
    """The reader of ``value``, which must give rows (the tabular problems)."""
    source = source_of(value)
    if source.load_rows is None or source.describe_rows is None:
        raise UsageError(
            f"{flag}={value}: {source.kind} data has no rows for this problem "
            f"(layout {source.layout}; use --problem torch)"
        )
    return source


def _load_builtin() -> None:
    if not any(s.kind == "libsvm" for s in _FALLBACK):
        importlib.import_module(BUILTIN_SOURCES)
