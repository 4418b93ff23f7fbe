"""The buffered columns of one group of a run log (``/rounds``, ``/eval``, ``/outer``)."""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from crpsgd.runlog.schema import Column


class Series:
    """Columns of one group, buffered in memory and appended to resizable datasets.

    Pending rows are kept as the dicts they came in (one per row, nothing converted per
    row); a flush turns them into one array per column. A column missing from a row takes
    its value from ``defaults``.
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

    def add(self, row: dict[str, Any]) -> None:
        self.pending.append(row)

    def write(self) -> None:
        rows = self.pending
        if not rows:
            return
        blocks = {name: self._column(rows, name, col) for name, col in self.columns.items()}
        for name, values in blocks.items():
            ds = self.datasets[name]
            n = ds.shape[0]
            ds.resize((n + values.size,))
            ds[n:] = values
        rows.clear()

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
