"""The composed table of ``crpsgd run``'s parameters: the common ones, then each registered
part's, each name once; which are active for the selected parts; their ``--help`` groups.

A parameter is *active* when a selected part declares it (:func:`active_params`); given on the
command line for an unselected part it is an error (:func:`check_selected`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from crpsgd.errors import UsageError
from crpsgd.params import Param
from crpsgd.registry.common_params import COMMON_PARAMS
from crpsgd.registry.parts import (
    FLAGS,
    LR_SCALING_PARAM,
    SCHEDULE_PARAM,
    algorithm,
    by_kind,
    declared,
    load,
    problem,
    schedule,
    schedule_of,
)


def _own_params(kind: str, part: Any) -> tuple[Param, ...]:
    """What a part declares; an algorithm with a schedule also ``--schedule``,
    ``--lr-scaling`` and (for the help and messages) the parameters of its default schedule."""
    if kind != "algo" or not part.uses_schedule:
        return part.params
    own = (SCHEDULE_PARAM, LR_SCALING_PARAM)
    return (*own, *part.params, *schedule(part.default_schedule).params)


def all_params() -> tuple[Param, ...]:
    """The composed table: common parameters (``--problem``, ``--algo`` with the registered
    names as choices), then every part's own parameters, each name once."""
    load()
    choices = {k: tuple(by_kind()[k]) for k in ("problem", "algo")}
    table: dict[str, Param] = {}
    for p in COMMON_PARAMS:
        if p.name in choices:
            helps = "; ".join(f"{n}: {part.help}" for n, part in by_kind()[p.name].items())
            p = replace(p, choices=choices[p.name], help=f"{p.help}: {helps}")
        elif p.name == "gamma":
            p = replace(p, help=p.help + _gamma_auto_refused())
        table[p.name] = p
    schedules = "; ".join(f"{n}: {part.help}" for n, part in by_kind()["schedule"].items())
    table[SCHEDULE_PARAM.name] = replace(
        SCHEDULE_PARAM,
        choices=("auto", *by_kind()["schedule"]),
        help=f"{SCHEDULE_PARAM.help}; {schedules}",
    )
    table[LR_SCALING_PARAM.name] = LR_SCALING_PARAM
    for p in declared():
        table.setdefault(p.name, p)
    return tuple(table.values())


def _gamma_auto_refused() -> str:
    """What ``--gamma auto`` means for the problems without a bound of ``L``."""
    unknown = ", ".join(n for n, part in by_kind()["problem"].items() if not part.smoothness_known)
    return f"; --problem {unknown}: no bound of L, 'auto' is refused" if unknown else ""


def owners(name: str) -> dict[str, list[str]]:
    """For each kind, the parts that declare the parameter ``name`` (an algorithm owns the
    parameters of its default schedule too)."""
    load()
    return {
        kind: [
            n
            for n, part in by_kind()[kind].items()
            if name in {p.name for p in _own_params(kind, part)}
        ]
        for kind in by_kind()
    }


def active_params(cfg: dict[str, Any]) -> set[str]:
    """Names of the parameters the selected parts use, and the common ones."""
    active = {p.name for p in COMMON_PARAMS}
    algo = algorithm(cfg["algo"])
    active.update(p.name for p in problem(cfg["problem"]).params)
    active.update(p.name for p in algo.params)
    if algo.inner_schedule:
        active.add(SCHEDULE_PARAM.name)
    sched = schedule_of(cfg)
    if sched is not None:
        active.update((SCHEDULE_PARAM.name, LR_SCALING_PARAM.name))
        active.update(p.name for p in sched.params)
    return active


def check_selected(cfg: dict[str, Any], given: list[str]) -> None:
    """Reject a parameter given on the command line that no selected part uses, naming the
    part it belongs to and the one selected: ``--rho belongs to --algo
    cr-psgd/cr-psgd-catalyst, not --algo psgd``."""
    active = active_params(cfg)
    for name in given:
        if name in active:
            continue
        by = owners(name)
        flag = "--" + name.replace("_", "-")
        sched = schedule_of(cfg)
        explicit = cfg.get("schedule", "auto") != "auto"
        if by["problem"]:
            kind, now = "problem", cfg["problem"]
        elif by["schedule"] and sched is not None and (explicit or not by["algo"]):
            kind, now = "schedule", sched.name
        else:
            kind, now = "algo", cfg["algo"]
        owner = "/".join(by[kind]) or "no part"
        raise UsageError(f"{flag} belongs to {FLAGS[kind]} {owner}, not {FLAGS[kind]} {now}")


def param_groups() -> list[tuple[str, list[Param]]]:
    """The composed table grouped by owner for ``--help``: the common parameters, then one
    group per set of parts that declare the same parameters, in registration order."""
    table = {p.name: p for p in all_params()}
    common = {p.name for p in COMMON_PARAMS} | {SCHEDULE_PARAM.name, LR_SCALING_PARAM.name}
    groups: dict[str, list[Param]] = {"common options": [table[n] for n in table if n in common]}
    seen = set(common)
    for kind in by_kind():
        for part in by_kind()[kind].values():
            for p in _own_params(kind, part):
                if p.name in seen:
                    continue
                seen.add(p.name)
                by = owners(p.name)
                title = "; ".join(f"{FLAGS[k]} {', '.join(v)}" for k, v in by.items() if v)
                groups.setdefault(title, []).append(table[p.name])
    return list(groups.items())
