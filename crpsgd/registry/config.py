"""Run configuration: tables of parameters, their constraints, and TOML files.

Every parameter of ``crpsgd run`` is declared once, as a :class:`~crpsgd.params.Param`: its
type, default, constraint and help (the bottom layer, :mod:`crpsgd.params`). The parameters of
every run are
:data:`crpsgd.registry.common_params.COMMON_PARAMS`; each registered part (problem, algorithm, batch
schedule: :mod:`crpsgd.registry.parts`) declares its own, and
:data:`PARAMS` is the composition of all of them. The CLI builds its flags from the table; a
TOML file (``--config``) may set any of them under the same names (``T = 100000``,
``algo = "cr-psgd"``); flags given on the command line override the file. Every value, from
either source, goes through the same check, and a message names the argument, its value and,
for file values, the file.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from crpsgd.errors import DataFormatError, UsageError
from crpsgd.params import Param, convert
from crpsgd.registry import param_table, parts

__all__ = ["Param", "RESUME_OVERRIDES", "check_combination", "convert", "merge", "read_toml"]

# What ``--resume`` lets the command line change; everything else comes from the checkpoint.
RESUME_OVERRIDES = ("quiet", "checkpoint_every", "checkpoint", "check_sync")
#: Names computed from the registered parts on access (:func:`__getattr__`).
_COMPOSED = ("PARAMS", "PARAMS_BY_NAME", "ALGORITHMS", "PROBLEMS", "SCHEDULES")


def __getattr__(name: str) -> Any:
    """``PARAMS`` (the common parameters, then every registered part's, each once),
    ``PARAMS_BY_NAME`` and the part names, composed from :mod:`crpsgd.registry.parts` when asked
    for, so that parts registered by plugins are included."""
    if name not in _COMPOSED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    if name == "PARAMS":
        return param_table.all_params()
    if name == "PARAMS_BY_NAME":
        return {p.name: p for p in param_table.all_params()}
    return tuple(parts.names({"ALGORITHMS": "algo", "PROBLEMS": "problem"}.get(name, "schedule")))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parameters from a TOML file; unknown keys and syntax errors name the file (and line)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise DataFormatError(path, None, "not a regular file, not a configuration")
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, None, "no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(path, None, f"cannot read configuration: {exc}") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python < 3.14 puts the position only in the text: "... (at line 2, column 5)"
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(found.group(1)) if found else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        if found:
            message += f" (column {found.group(2)})"
        raise DataFormatError(path, line, f"TOML syntax: {message}") from None
    except RecursionError:
        raise DataFormatError(path, None, "TOML values nested too deeply") from None
    by_name = _by_name()
    for key in table:
        if key not in by_name or key == "config":
            known = ", ".join(by_name)
            raise DataFormatError(
                path, _line_of(text, key), f"unknown key {key!r} (known: {known})"
            )
    return table


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(key):
            return number
    return None


def _by_name() -> dict[str, Param]:

    return {p.name: p for p in param_table.all_params()}


def merge(
    cli: dict[str, Any], config_path: str | None, command_line: bool = False
) -> dict[str, Any]:
    """Defaults, then the TOML file, then the flags given on the command line (not None).

    ``command_line=True``: ``cli`` holds only what the user typed, so a flag of a part that is
    not selected (``--rho`` with ``--algo psgd``) is an error. Otherwise (a TOML file, or a
    program such as the bench runner passing shared keys) such keys are accepted silently.
    """
    by_name = _by_name()
    merged = {name: p.default for name, p in by_name.items()}
    if config_path is not None:
        for key, raw in read_toml(config_path).items():
            merged[key] = convert(by_name[key], raw, str(config_path))
    given = []
    for key, raw in cli.items():
        if raw is not None and key in by_name:
            merged[key] = convert(by_name[key], raw, "command line")
            given.append(key)
    merged["config"] = config_path
    check_combination(merged)
    if command_line:
        param_table.check_selected(merged, given)
    return merged


def check_combination(cfg: dict[str, Any]) -> None:
    """Constraints between parameters: each selected part's own (the budget must fit the
    first batch, Catalyst's inner budget, ...); ``auto`` step sizes need a known smoothness
    constant; ``--fstar auto`` needs a problem whose Newton solve applies."""

    problem, algo = parts.problem(cfg["problem"]), parts.algorithm(cfg["algo"])
    for part in parts.selected(cfg):
        part.check_config(cfg)
    scaling = cfg.get("lr_scaling", "constant")
    if scaling != "constant" and not algo.uses_schedule:
        schedule_driven = "/".join(a.name for a in parts.registered("algo") if a.uses_schedule)
        raise UsageError(
            f"--lr-scaling={scaling}: the step follows the batch only in the schedule-driven "
            f"algorithms (--algo {schedule_driven}), not --algo {cfg['algo']}; its local steps "
            "keep their own step size (leave --lr-scaling out)"
        )
    if not problem.smoothness_known:
        for name in ("gamma", *algo.auto_needs_smoothness):
            if cfg[name] == "auto":
                raise UsageError(
                    f"--{name}=auto: the smoothness constant L of --problem={problem.name} is "
                    f"not known; pass a number (e.g. --{name} {0.1 if name == 'gamma' else 1.0})"
                )
    if cfg["fstar"] == "auto" and not problem.convex_fstar:
        convex = "/".join(p.name for p in parts.registered("problem") if p.convex_fstar)
        raise UsageError(
            f"--fstar=auto: the Newton solve is for --problem={convex} only, not "
            f"--problem={cfg['problem']} (not convex); pass --fstar VALUE or --fstar none"
        )
