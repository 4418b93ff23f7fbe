"""Run configuration: tables of parameters, their constraints, and TOML files.

Every parameter of ``crpsgd run`` is declared once, as a :class:`Param`: its type, default,
constraint and help. The parameters of every run are :data:`COMMON_PARAMS`; each registered
part (problem, algorithm, batch schedule: :mod:`crpsgd.parts`) declares its own, and
:data:`PARAMS` is the composition of all of them. The CLI builds its flags from the table; a
TOML file (``--config``) may set any of them under the same names (``T = 100000``,
``algo = "cr-psgd"``); flags given on the command line override the file. Every value, from
either source, goes through the same check, and a message names the argument, its value and,
for file values, the file.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crpsgd.errors import DataFormatError, UsageError
from crpsgd.limits import int_problem


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is int, float, str or bool; ``special`` lists string values a
    numeric parameter also accepts (``gamma = "auto"``); ``check`` returns an error text or None."""

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


def positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def at_least(low: float) -> Callable[[float], str | None]:
    return lambda v: None if v >= low else f"must be >= {low}"


def above_one(v: float) -> str | None:
    return None if v > 1 else "must be > 1"


def _fractions_error(text: str) -> str | None:
    from crpsgd.step_size import parse_fractions

    try:
        parse_fractions(text)
    except UsageError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


#: Parameters of every run, whatever the parts; each part declares its own (crpsgd.parts).
COMMON_PARAMS: tuple[Param, ...] = (
    Param("problem", str, "logreg", "objective (see the groups below)"),
    Param("algo", str, "cr-psgd", "algorithm (see the groups below)"),
    Param(
        "data",
        str,
        "synthetic",
        "training data: LIBSVM text, crpsgd HDF5, or synthetic[:n=..,d=..,seed=..]",
    ),
    Param("test_data", str, None, "test data (same formats) for test accuracy"),
    Param(
        "n_features",
        int,
        None,
        "feature count d (LIBSVM files may not use the last ones)",
        check=at_least(1),
    ),
    Param("dense", bool, False, "hold LIBSVM/HDF5-CSR data as a dense matrix"),
    Param(
        "T",
        int,
        10000,
        "SFO budget of each worker (stochastic gradients of one sample)",
        check=at_least(1),
    ),
    Param(
        "gamma",
        float,
        "auto",
        "step size gamma, or 'auto' = 1/L (or the algorithm's own rule, see --algo)",
        special=("auto",),
        check=positive,
    ),
    Param(
        "fstar",
        float,
        "none",
        "optimal value f* for suboptimality: a number, 'auto' (distributed Newton solve) or 'none'",
        special=("auto", "none"),
    ),
    Param(
        "fstar_cache",
        str,
        "user",
        "where --fstar auto keeps its solution: user (the user cache directory, $CRPSGD_CACHE "
        "or ~/.cache/crpsgd) or beside-data (a file next to the data when writable, else user)",
        ("user", "beside-data"),
    ),
    Param("seed", int, 0, "master seed of all random streams", check=at_least(0)),
    Param(
        "eval_factor",
        float,
        1.25,
        "evaluate when SFO per worker grew by this factor",
        check=above_one,
    ),
    Param("out", str, None, "HDF5 run log [default: runs/<algo>-N<ranks>-seed<seed>.h5]"),
    Param("overwrite", bool, False, "replace an existing --out file"),
    Param("quiet", bool, False, "no progress lines, only the final summary"),
    Param(
        "checkpoint_every",
        int,
        0,
        "write a checkpoint every K rounds (0: only when stopped by SIGTERM/SIGUSR1)",
        check=at_least(0),
    ),
    Param("checkpoint", str, None, "checkpoint file [default: <out stem>.ckpt.h5 beside the log]"),
    Param(
        "check_sync",
        int,
        0,
        "every K rounds, check that all ranks hold the same iterate (0: never)",
        check=at_least(0),
    ),  # the step-size rule (crpsgd.step_size), for every problem and algorithm
    Param(
        "lr_schedule",
        str,
        "constant",
        "step size per round: constant, or step (x decay-factor at each decay-at fraction of T)",
        ("constant", "step"),
    ),
    Param(
        "decay_at",
        str,
        "0.5,0.75",
        "fractions of T (SFO per worker) where --lr-schedule step decays",
        check=lambda v: _fractions_error(v),
    ),
    Param("decay_factor", float, 0.1, "factor of each step decay", check=at_least(0.0)),
    Param(
        "warmup",
        int,
        0,
        "linear step-size warm-up over this many SFO per worker (0: none)",
        check=at_least(0),
    ),
    Param(
        "warmup_start",
        float,
        0.1,
        "warm-up starts at this fraction of the step size",
        check=lambda v: None if 0.0 <= v <= 1.0 else "must be in [0, 1]",
    ),
)
# What ``--resume`` lets the command line change; everything else comes from the checkpoint.
RESUME_OVERRIDES = ("quiet", "checkpoint_every", "checkpoint", "check_sync")
#: Names computed from the registered parts on access (:func:`__getattr__`).
_COMPOSED = ("PARAMS", "PARAMS_BY_NAME", "ALGORITHMS", "PROBLEMS", "SCHEDULES")


def __getattr__(name: str) -> Any:
    """``PARAMS`` (the common parameters, then every registered part's, each once),
    ``PARAMS_BY_NAME`` and the part names, composed from :mod:`crpsgd.parts` when asked for,
    so that parts registered by plugins are included."""
    if name not in _COMPOSED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from crpsgd import parts

    if name == "PARAMS":
        return parts.all_params()
    if name == "PARAMS_BY_NAME":
        return {p.name: p for p in parts.all_params()}
    return tuple(parts.names({"ALGORITHMS": "algo", "PROBLEMS": "problem"}.get(name, "schedule")))


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
    from crpsgd import parts

    return {p.name: p for p in parts.all_params()}


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
        from crpsgd import parts

        parts.check_selected(merged, given)
    return merged


def check_combination(cfg: dict[str, Any]) -> None:
    """Constraints between parameters: each selected part's own (the budget must fit the
    first batch, Catalyst's inner budget, ...); ``auto`` step sizes need a known smoothness
    constant; ``--fstar auto`` needs a problem whose Newton solve applies."""
    from crpsgd import parts

    problem, algo = parts.problem(cfg["problem"]), parts.algorithm(cfg["algo"])
    for part in parts.selected(cfg):
        part.check_config(cfg)
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


def check_first_batch(cfg: dict[str, Any], name: str) -> None:
    """The budget ``T`` must hold the first batch, the parameter ``name`` (``b1``, ``batch``)."""
    if cfg["T"] < cfg[name]:
        flag = "--" + name.replace("_", "-")
        raise UsageError(
            f"--T={cfg['T']}: the budget is smaller than the first batch {flag}={cfg[name]}"
        )
