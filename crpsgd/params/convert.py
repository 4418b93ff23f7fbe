"""A raw value (a flag's text, a TOML value) converted to its parameter's type and checked."""

from __future__ import annotations

import math
from typing import Any

from crpsgd.errors import UsageError
from crpsgd.params.limits import int_problem
from crpsgd.params.param import Param


def convert(param: Param, raw: Any, origin: str) -> Any:
    """Convert and check one value; ``origin`` says where it came from for the message."""
    where = (
        f"{param.flag}={raw!r}" if origin == "command line" else f"{param.name}={raw!r} ({origin})"
    )
    if raw is None:
        return None
    if isinstance(raw, str) and raw in param.special:
        return raw
    try:
        value = _coerce(param.kind, raw)
    except (TypeError, ValueError):
        expected = param.kind.__name__
        if param.special:
            expected += " or " + " or ".join(repr(s) for s in param.special)
        raise UsageError(f"{where}: expected {expected}") from None
    if param.kind is int and (too_large := int_problem(param.name, value)):
        raise UsageError(f"{where}: {too_large}")
    if param.choices and value not in param.choices:
        raise UsageError(f"{where}: must be one of {', '.join(param.choices)}")
    if param.check is not None:
        problem = param.check(value)
        if problem:
            raise UsageError(f"{where}: {problem}")
    return value


def _coerce(kind: type, raw: Any) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
            return raw.lower() in ("true", "1", "yes")
        raise ValueError(raw)
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(raw)
        if isinstance(raw, str):
            raw = raw.replace("_", "")
            try:
                return int(raw)
            except ValueError:
                f = float(raw)  # "1e5" is a fine integer
                if not f.is_integer():
                    raise
                return int(f)
        return int(raw)
    if kind is float:
        if isinstance(raw, bool):
            raise ValueError(raw)
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
        return value
    if not isinstance(raw, str):
        raise TypeError(raw)
    return raw
