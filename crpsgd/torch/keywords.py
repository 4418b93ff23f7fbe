"""The keywords of :func:`crpsgd.torch.train` beyond its own arguments: ``crpsgd run``'s
parameters under their names (``T=2000``, ``b1=16``, ``micro_batch=64``).

An unknown keyword is one :class:`~crpsgd.errors.UsageError` naming it, with the close
matches (``momentun`` -> ``momentum``) and the valid names; a keyword that ``train()`` sets
itself or that would be ignored is refused the same way, never dropped in silence: so is a
parameter of a part the run does not select (``rho=`` with ``algo="psgd"``, ``lam=``, which
belongs to the built-in problems), as ``crpsgd run`` refuses its flag.
"""

from __future__ import annotations

import difflib
from typing import Any

from crpsgd.errors import UsageError
from crpsgd.registry.param_table import all_params, check_selected

#: set by train() itself
OWN = {
    "problem": "train() always runs the torch problem",
    "model": "pass the model as train()'s first argument",
    "data": "pass the data as train_data",
    "test_data": "test_data is train()'s own argument",
    "optimizer": "pass optimizer= a factory params -> torch.optim.Optimizer",
}
#: what an optimizer replaces
OPTIMIZER_REPLACES = ("gamma", "momentum", "weight_decay")
NOT_YET = {"resume": "a run of in-process objects cannot be resumed yet"}


def valid_names() -> list[str]:
    """Every keyword ``train()`` takes besides its own arguments, sorted."""
    names = {p.name for p in all_params()}
    return sorted(names - set(OWN) - set(NOT_YET))


def check_keywords(params: dict[str, Any], optimizer: bool) -> None:
    """Refuse an unknown keyword, one that ``train()`` sets from its own arguments, and
    (with ``optimizer``) gamma, momentum and weight_decay, which the optimizer replaces."""
    valid = valid_names()
    for key in params:
        if key in OWN:
            raise UsageError(f"{key}=: not a keyword of train(): {OWN[key]}")
        if key in NOT_YET:
            raise UsageError(f"{key}=: not taken by train(): {NOT_YET[key]}")
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise UsageError(f"{key}=: unknown keyword of train(){hint}; valid: {', '.join(valid)}")
        if optimizer and key in OPTIMIZER_REPLACES:
            raise UsageError(
                f"{key}=: with optimizer= the optimizer's own settings (lr, momentum, "
                "weight decay) replace crpsgd's plain step: set them in the factory"
            )
    _check_selected(params)


def _check_selected(params: dict[str, Any]) -> None:
    """Refuse a keyword of a problem, algorithm or batch schedule that the run does not
    select (the torch problem, ``algo``, ``schedule``), naming the keyword. Unknown ``algo``
    or ``schedule`` values are left to the run's own checks."""
    table = {p.name: p for p in all_params()}
    algo = str(params.get("algo") or table["algo"].default)
    schedule = str(params.get("schedule") or "auto")
    if algo not in table["algo"].choices or schedule not in table["schedule"].choices:
        return
    given = [key for key, value in params.items() if value is not None]
    for key in given:
        try:
            check_selected({"problem": "torch", "algo": algo, "schedule": schedule}, [key])
        except UsageError as exc:
            raise UsageError(f"{key}=: not used by this run: {exc}") from None
