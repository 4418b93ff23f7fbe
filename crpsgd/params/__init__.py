"""The bottom layer of the configuration: a parameter's record and its constraints.

Every parameter of ``crpsgd run`` (common or a part's) is one :class:`Param`; its ``check`` is a
declarative constraint (:class:`Interval`, :class:`AllOf`) that both checks a value and
describes itself for ``--help`` and the options reference. :func:`convert` turns a raw value
(a flag's text or a TOML value) into the parameter's type and checks it. Nothing here knows
the registered parts: the composed table lives in :mod:`crpsgd.registry.config`.
"""

from crpsgd.params.constraints import (
    AllOf,
    Interval,
    above_one,
    all_of,
    at_least,
    at_most,
    check_first_batch,
    describe,
    positive,
)
from crpsgd.params.convert import convert
from crpsgd.params.param import Param

__all__ = [
    "AllOf",
    "Interval",
    "Param",
    "above_one",
    "all_of",
    "at_least",
    "at_most",
    "check_first_batch",
    "convert",
    "describe",
    "positive",
]
