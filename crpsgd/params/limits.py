"""Bounds of integer parameters: what the code can hold, and what memory can.

Every integer parameter (of ``crpsgd run``, the TOML file or ``crpsgd convert``) is checked
against :func:`int_problem` after conversion, so a huge value is one message naming the
argument and exit status 2 instead of an overflow, a ``MemoryError`` or an HDF5 type error:

* ``seed`` < 2^63: it is stored as a 64-bit HDF5 attribute and seeds ``SeedSequence``;
* ``n_features`` <= 2^28 and ``hidden`` <= 2^20: a model vector of 2^28 float64 values is
  2 GiB, and each rank holds several (iterate, gradient, Allreduce buffer, evaluation);
* every other integer (``T``, ``b1``, ``batch``, ``outer``, ``period``, ...) <= 2^53: SFO
  counts, batch sizes and periods stay exact in the float64 arithmetic of the schedules
  and fit the int64 columns of the log.

:func:`check_model_size` bounds the dimension a problem gets from the data (``d``, or
``d h + 2 h + 1`` for ``--problem mlp``) by the same 2^28, and
:func:`check_parameter_count` a torch model's parameters (before its buffers are made).
"""

from __future__ import annotations

from typing import Any

from crpsgd.errors import UsageError

EXACT_MAX = 2**53
MAX_MODEL = 2**28
INT_LIMITS: dict[str, tuple[int, str]] = {
    "seed": (2**63 - 1, "must be < 2^63 (a 64-bit seed)"),
    "n_features": (MAX_MODEL, f"must be <= {MAX_MODEL} (2^28: 2 GiB per model vector)"),
    "hidden": (2**20, f"must be <= {2**20} (2^20 hidden units)"),
}
_DEFAULT = (EXACT_MAX, f"must be <= {EXACT_MAX} (2^53, exact in float64)")


def int_problem(name: str, value: int) -> str | None:
    """The error text for integer parameter ``name`` holding ``value``, or None."""
    limit, text = INT_LIMITS.get(name, _DEFAULT)
    if value > limit:
        return text
    if value < -EXACT_MAX:
        return f"must be >= -{EXACT_MAX}"
    return None


def model_dimension(cfg: dict[str, Any], n_features: int) -> int:
    """Length of the iterate of the configured problem on ``n_features`` columns."""
    if cfg.get("problem") == "mlp":
        hidden = int(cfg["hidden"])
        return n_features * hidden + 2 * hidden + 1
    return int(n_features)


def check_model_size(cfg: dict[str, Any], n_features: int) -> None:
    """Refuse a problem whose iterate would not be memory-sane (see the module docstring)."""
    dim = model_dimension(cfg, n_features)
    if dim > MAX_MODEL:
        what = (
            f"--hidden={cfg['hidden']} on {n_features} features"
            if cfg.get("problem") == "mlp"
            else f"{n_features} features"
        )
        raise UsageError(
            f"{what}: the model would have {dim} parameters, more than {MAX_MODEL} (2^28, "
            "2 GiB per vector, several per rank)"
        )


def check_parameter_count(count: int, origin: str) -> None:
    """Refuse a built model of more than :data:`MAX_MODEL` parameters (before its flat
    buffers are allocated); ``origin`` names what built it (``--model=m:f``)."""
    if count > MAX_MODEL:
        raise UsageError(
            f"{origin}: the model has {count} parameters, more than {MAX_MODEL} (2^28, "
            "2 GiB per vector, several per rank)"
        )
