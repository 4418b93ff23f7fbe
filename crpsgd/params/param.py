"""One parameter of ``crpsgd run``: name, type, default, help and constraint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is int, float, str or bool; ``special`` lists string values a
    numeric parameter also accepts (``gamma = "auto"``); ``check`` returns an error text or
    None (a :class:`~crpsgd.params.constraints.Interval` also describes itself)."""

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    special: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")
