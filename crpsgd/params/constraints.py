"""Declarative constraints of parameter values (in the manner of scikit-learn's
``_parameter_constraints``): each is a callable returning an error text or None, and says
what it allows (:func:`describe`), so that the options reference is generated from the same
record that checks the value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crpsgd.errors import UsageError

Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Interval:
    """``low (<|<=) v (<|<=) high``; a bound of None is open-ended. ``why`` says where an
    upper bound comes from (the largest value the code can hold)."""

    low: float | None = None
    high: float | None = None
    low_closed: bool = True
    why: str = ""

    def __call__(self, v: float) -> str | None:
        if self.low is not None and not (v >= self.low if self.low_closed else v > self.low):
            return f"must be {self._low_text()}"
        if self.high is not None and not v <= self.high:
            return f"must be {self._high_text()}"
        return None

    def _low_text(self) -> str:
        return f"{'>=' if self.low_closed else '>'} {self.low}"

    def _high_text(self) -> str:
        return f"<= {self.high:.17g}" + (f" ({self.why})" if self.why else "")

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(self._low_text())
        if self.high is not None:
            parts.append(self._high_text())
        return " and ".join(parts)


@dataclass(frozen=True)
class AllOf:
    """A constraint made of several: the first complaint, or None."""

    checks: tuple[Check, ...]

    def __call__(self, v: Any) -> str | None:
        return next((c for c in (f(v) for f in self.checks) if c), None)

    def describe(self) -> str:
        return " and ".join(t for t in (describe(c) for c in self.checks) if t)


def describe(check: Check | None) -> str:
    """What ``check`` allows, in words (empty for a check that does not describe itself)."""
    text = getattr(check, "describe", None)
    return text() if callable(text) else ""


positive = Interval(low=0, low_closed=False)
above_one = Interval(low=1, low_closed=False)


def at_least(low: float) -> Interval:
    return Interval(low=low)


def at_most(high: float, why: str) -> Interval:
    """The upper bound of a parameter: the largest value the code can hold (``why``)."""
    return Interval(high=high, why=why)


def all_of(*checks: Check) -> AllOf:
    return AllOf(tuple(checks))


def check_first_batch(cfg: dict[str, Any], name: str) -> None:
    """The budget ``T`` must hold the first batch, the parameter ``name`` (``b1``, ``batch``)."""
    if cfg["T"] < cfg[name]:
        flag = "--" + name.replace("_", "-")
        raise UsageError(
            f"--T={cfg['T']}: the budget is smaller than the first batch {flag}={cfg[name]}"
        )
