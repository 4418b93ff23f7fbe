"""Run configuration: one table of parameters, their constraints, and TOML files.

Every parameter of ``crpsgd run`` is declared once in :data:`PARAMS`: its type, default,
constraint and help. The CLI builds its flags from the table; a TOML file (``--config``)
may set any of them under the same names (``T = 100000``, ``algo = "cr-psgd"``); flags given
on the command line override the file. Every value, from either source, goes through the
same check, and a message names the argument, its value and, for file values, the file.
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

ALGORITHMS = ("cr-psgd", "psgd", "cr-psgd-catalyst", "local-sgd")
PROBLEMS = ("logreg", "logreg-nonconvex", "mlp")
PERIOD_RULES = ("stich", "prsgd")
#: Algorithms whose first batch is --b1 (a CR-PSGD schedule); the others use --batch.
B1_ALGORITHMS = ("cr-psgd", "cr-psgd-catalyst")


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


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _at_least(low: float) -> Callable[[float], str | None]:
    return lambda v: None if v >= low else f"must be >= {low}"


def _above_one(v: float) -> str | None:
    return None if v > 1 else "must be > 1"


PARAMS: tuple[Param, ...] = (
    Param(
        "problem",
        str,
        "logreg",
        "objective: logreg (l2 logistic regression), logreg-nonconvex (logistic loss + "
        "lam sum alpha x^2/(1 + alpha x^2)), mlp (two-layer tanh network + lam/2 ||x||^2)",
        PROBLEMS,
    ),
    Param("algo", str, "cr-psgd", "algorithm", ALGORITHMS),
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
        check=_at_least(1),
    ),
    Param("dense", bool, False, "hold LIBSVM/HDF5-CSR data as a dense matrix"),
    Param("lam", float, 1e-4, "l2 regularisation lambda", check=_at_least(0.0)),
    Param(
        "T",
        int,
        10000,
        "SFO budget of each worker (stochastic gradients of one sample)",
        check=_at_least(1),
    ),
    Param("b1", int, 8, "cr-psgd: first batch size B_1 (per worker)", check=_at_least(1)),
    Param(
        "rho",
        float,
        1.2,
        "cr-psgd: batch growth factor rho > 1: B_t = floor(rho^(t-1) B_1)",
        check=_above_one,
    ),
    Param("batch", int, 8, "psgd: constant batch size B (per worker)", check=_at_least(1)),
    Param(
        "theta",
        float,
        "auto",
        "cr-psgd-catalyst: weight theta of the proximal term theta/2 ||x - y_(k-1)||^2, "
        "or 'auto' = 2L",
        special=("auto",),
        check=_positive,
    ),
    Param(
        "outer",
        int,
        "auto",
        "cr-psgd-catalyst: outer iterations K, or 'auto' = floor(sqrt(N T)); each inner run "
        "gets floor(sqrt(T/N)) SFO per worker ('auto') or floor(T/K)",
        special=("auto",),
        check=_at_least(1),
    ),
    Param(
        "period",
        int,
        "auto",
        "local-sgd: local minibatch steps H between model averagings, or 'auto' (--period-rule)",
        special=("auto",),
        check=_at_least(1),
    ),
    Param(
        "period_rule",
        str,
        "stich",
        "local-sgd: rule of --period auto, with S = floor(T/batch) local steps: stich "
        "(H = floor(sqrt(S/N))) or prsgd (H = floor(S^(1/4) / N^(3/4)))",
        PERIOD_RULES,
    ),
    Param(
        "alpha",
        float,
        1.0,
        "logreg-nonconvex: alpha > 0 of the penalty lam sum alpha x^2/(1 + alpha x^2)",
        check=_positive,
    ),
    Param("hidden", int, 16, "mlp: hidden units of the two-layer network", check=_at_least(1)),
    Param(
        "gamma",
        float,
        "auto",
        "step size gamma, or 'auto' = 1/L (1/(L + theta) for cr-psgd-catalyst)",
        special=("auto",),
        check=_positive,
    ),
    Param(
        "fstar",
        float,
        "none",
        "optimal value f* for suboptimality: a number, 'auto' (distributed Newton solve) or 'none'",
        special=("auto", "none"),
    ),
    Param("seed", int, 0, "master seed of all random streams", check=_at_least(0)),
    Param(
        "eval_factor",
        float,
        1.25,
        "evaluate when SFO per worker grew by this factor",
        check=_above_one,
    ),
    Param("out", str, None, "HDF5 run log (default runs/<algo>-N<ranks>-seed<seed>.h5)"),
    Param("overwrite", bool, False, "replace an existing --out file"),
    Param("quiet", bool, False, "no progress lines, only the final summary"),
    Param(
        "checkpoint_every",
        int,
        0,
        "write a checkpoint every K rounds (0: only when stopped by SIGTERM/SIGUSR1)",
        check=_at_least(0),
    ),
    Param("checkpoint", str, None, "checkpoint file (default: <out stem>.ckpt.h5 beside the log)"),
    Param(
        "check_sync",
        int,
        0,
        "every K rounds, check that all ranks hold the same iterate (0: never)",
        check=_at_least(0),
    ),
)
# What ``--resume`` lets the command line change; everything else comes from the checkpoint.
RESUME_OVERRIDES = ("quiet", "checkpoint_every", "checkpoint", "check_sync")
PARAMS_BY_NAME = {p.name: p for p in PARAMS}


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
    for key in table:
        if key not in PARAMS_BY_NAME or key == "config":
            known = ", ".join(PARAMS_BY_NAME)
            raise DataFormatError(
                path, _line_of(text, key), f"unknown key {key!r} (known: {known})"
            )
    return table


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(key):
            return number
    return None


def merge(cli: dict[str, Any], config_path: str | None) -> dict[str, Any]:
    """Defaults, then the TOML file, then the flags given on the command line (not None)."""
    merged = {p.name: p.default for p in PARAMS}
    if config_path is not None:
        for key, raw in read_toml(config_path).items():
            merged[key] = convert(PARAMS_BY_NAME[key], raw, str(config_path))
    for key, raw in cli.items():
        if raw is not None and key in PARAMS_BY_NAME:
            merged[key] = convert(PARAMS_BY_NAME[key], raw, "command line")
    merged["config"] = config_path
    check_combination(merged)
    return merged


def check_combination(cfg: dict[str, Any]) -> None:
    """Constraints between parameters: the budget must fit the first batch; ``auto`` step
    sizes need a known smoothness constant; ``--fstar auto`` needs a strongly convex problem.
    (Catalyst's inner budget depends on the rank count: checked by the run.)"""
    first = cfg["b1"] if cfg["algo"] in B1_ALGORITHMS else cfg["batch"]
    flag = "--b1" if cfg["algo"] in B1_ALGORITHMS else "--batch"
    if cfg["T"] < first:
        raise UsageError(
            f"--T={cfg['T']}: the budget is smaller than the first batch {flag}={first}"
        )
    if cfg["problem"] == "mlp":
        names = ["gamma"] + (["theta"] if cfg["algo"] == "cr-psgd-catalyst" else [])
        for name in names:
            if cfg[name] == "auto":
                raise UsageError(
                    f"--{name}=auto: the smoothness constant L of --problem=mlp is not known; "
                    f"pass a number (e.g. --{name} {0.1 if name == 'gamma' else 1.0})"
                )
    if cfg["fstar"] == "auto" and cfg["problem"] != "logreg":
        raise UsageError(
            f"--fstar=auto: the Newton solve is for --problem=logreg only, not "
            f"--problem={cfg['problem']} (not convex); pass --fstar VALUE or --fstar none"
        )
