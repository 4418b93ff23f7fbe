"""HDF5 run log: written by rank 0 only, readable while and after the run.

The parts: :mod:`~crpsgd.runlog.schema` (groups, columns, units, versions),
:mod:`~crpsgd.runlog.writer` (the write protocol), :mod:`~crpsgd.runlog.reader` (every
version, live or dead writer), :mod:`~crpsgd.runlog.repair` (a log whose writer was killed
made readable by any HDF5 tool) and :mod:`~crpsgd.runlog.lock` (the writer's lock).
"""

from crpsgd.runlog.lock import refuse_if_live
from crpsgd.runlog.reader import RunRecord, read_run, writer_state
from crpsgd.runlog.repair import needs_repair, repair
from crpsgd.runlog.schema import (
    EVAL_COLUMNS,
    EVAL_DEFAULTS,
    FORMAT,
    FORMAT_VERSION,
    OUTER_COLUMNS,
    READABLE_VERSIONS,
    ROUND_COLUMNS,
    ROUND_DEFAULTS,
    ROUND_OPTIONAL,
    ROUND_OPTIONAL_SCHEMA,
    SCHEMA,
    SERIES,
)
from crpsgd.runlog.writer import NullRunLog, RunLog

__all__ = [
    "EVAL_COLUMNS",
    "FORMAT",
    "FORMAT_VERSION",
    "OUTER_COLUMNS",
    "READABLE_VERSIONS",
    "ROUND_COLUMNS",
    "EVAL_DEFAULTS",
    "ROUND_DEFAULTS",
    "ROUND_OPTIONAL",
    "ROUND_OPTIONAL_SCHEMA",
    "SCHEMA",
    "SERIES",
    "NullRunLog",
    "RunLog",
    "RunRecord",
    "needs_repair",
    "read_run",
    "refuse_if_live",
    "repair",
    "writer_state",
]
