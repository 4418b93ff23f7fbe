"""The buffered columns of one group of a run log (``/rounds``, ``/eval``, ``/outer``)."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from crpsgd.runlog.schema import Column


class Series:
    """Columns of one group, buffered in memory and appended to resizable datasets.

    Pending rows are kept as the dicts they came in (one per row, nothing converted per
    row), or as blocks of columns (:meth:`add_block`, many rows at once); a flush turns them
    into one array per column, in the order they came. A column missing from a row or a
    block takes its value from ``defaults``.
    """

    def __init__(
        self,
        group: h5py.Group,
        columns: dict[str, Column],
        existing: bool,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.columns = columns
        self.defaults = defaults or {}
        self.group_name = group.name
        self.datasets = {}
        for name, col in columns.items():
            if existing:
                ds = group[name]
            else:
                ds = group.create_dataset(
                    name, shape=(0,), maxshape=(None,), dtype=col.dtype, chunks=(1024,)
                )
            if "unit" not in ds.attrs:
                ds.attrs["unit"] = col.unit
                ds.attrs["meaning"] = col.meaning
            self.datasets[name] = ds
        self.pending: list[dict[str, Any]] = []
        self._blocks: list[dict[str, np.ndarray]] = []  # converted, before ``pending``
        self.block_rows = 0  # rows held in ``_blocks``

    def add(self, row: dict[str, Any]) -> None:
        self.pending.append(row)

    def add_block(self, columns: dict[str, Any], rows: int) -> None:
        """Append ``rows`` rows given as one array (or scalar, for every row) per column."""
        if rows <= 0:
            return
        self._hold_pending()
        block = {}
        for name, col in self.columns.items():
            if name in columns:
                values = columns[name]
            elif name in self.defaults:
                values = self.defaults[name]
            else:
                raise KeyError(f"a block of {self.group_name} has no column {name!r}")
            block[name] = np.array(np.broadcast_to(np.asarray(values, dtype=col.dtype), (rows,)))
        self._blocks.append(block)
        self.block_rows += rows

    def _hold_pending(self) -> None:
        """Convert the pending rows into a block, keeping the order of rows and blocks."""
        rows = self.pending
        if rows:
            self._blocks.append(
                {name: self._column(rows, name, col) for name, col in self.columns.items()}
            )
            self.block_rows += len(rows)
            rows.clear()

    def write(self) -> None:
        if not self._blocks:
            rows = self.pending
            if not rows:
                return
            blocks = {name: self._column(rows, name, col) for name, col in self.columns.items()}
        else:
            self._hold_pending()
            blocks = {
                name: np.concatenate([b[name] for b in self._blocks]) for name in self.columns
            }
        for name, values in blocks.items():
            ds = self.datasets[name]
            n = ds.shape[0]
            ds.resize((n + values.size,))
            ds[n:] = values
        self.pending.clear()
        self._blocks.clear()
        self.block_rows = 0

    def _column(self, rows: list[dict[str, Any]], name: str, col: Column) -> np.ndarray:
        try:
            if name in self.defaults:
                default = self.defaults[name]
                values = [row.get(name, default) for row in rows]
            else:
                values = [row[name] for row in rows]
        except KeyError:
            raise KeyError(f"a row of {self.group_name} has no column {name!r}") from None
        return np.asarray(values, dtype=col.dtype)
