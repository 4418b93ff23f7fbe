"""An experiment definition (a TOML file under bench/): loading, ``--quick``, ``--data-dir``,
its grid points, their log names and their ``crpsgd run`` flags.

A definition has one of two shapes:

* **single problem** (``bench/logreg_*.toml``): ``[run]`` holds the ``crpsgd run`` flags,
  ``[grid]`` the step-size factors ``gamma`` (units of ``1/L``, the same list for every method)
  and the seeds; a grid point carries its factor as ``gamma_factor``. A top-level ``unit``
  (``bound`` unless given, see :mod:`runner.units`) says what ``L`` is.
* **problems** (``bench/catalyst.toml``): one ``[[problem]]`` table per problem, each with its
  ``run`` flags, ``target`` and step-size unit; each method gives its own ``gamma`` axis (units
  of ``1/L``, for Catalyst of ``1/(L + theta)``) and ``theta`` in units of ``L``.

In both, a ``[[method]]`` table's list values are grid axes and scalars are fixed, and
``[select]`` sets the selection rules (see :mod:`runner.select` for their meaning).
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import tomllib
from pathlib import Path
from typing import Any

#: Method keys that describe the selection or the table, never a ``crpsgd run`` flag.
NOT_FLAGS = ("name", "label", "optional", "select_max_rounds", "reference", "reference_label")

#: The selection rules of each shape when ``[select]`` does not set them.
DEFAULT_SELECT = {
    "single": {"score": "final", "rows": ["score", "max_rounds"], "resume": False},
    "problems": {"score": "tail", "rows": ["score", "settle", "reference"], "resume": True},
}
SCORES = ("final", "tail")
ROWS = ("score", "max_rounds", "settle", "reference")
UNITS = ("bound", "estimate", "absolute")


class DefinitionError(ValueError):
    """A definition that cannot be run: the message names the file and the key."""


def shape(spec: dict[str, Any]) -> str:
    return "problems" if "problem" in spec else "single"


def load(path: Path, quick: bool = False, data_dir: str | None = None) -> dict[str, Any]:
    """The definition at ``path``, with its ``[select]`` rules completed and checked."""
    try:
        spec = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DefinitionError(f"{path}: {exc}") from exc
    for key in ("name", "method"):
        if key not in spec:
            raise DefinitionError(f"{path}: no '{key}'")
    if shape(spec) == "single":
        spec.setdefault("run", {})
        spec.setdefault("grid", {})
        if spec.get("unit", "bound") not in UNITS:
            raise DefinitionError(f"{path}: unit = {spec['unit']!r}: not in {UNITS}")
    else:
        for key in ("tune_seed", "seeds"):
            if key not in spec:
                raise DefinitionError(f"{path}: no '{key}'")
        for i, problem in enumerate(spec["problem"]):
            missing = [k for k in ("name", "run", "target") if k not in problem]
            if missing:
                raise DefinitionError(f"{path}: [[problem]] {i + 1}: no {', '.join(missing)}")
            if problem.get("unit", "bound") not in UNITS:
                raise DefinitionError(
                    f"{path}: [[problem]] {problem['name']}: unit = {problem['unit']!r}: "
                    f"not in {UNITS}"
                )
    for i, method in enumerate(spec["method"]):
        missing = [k for k in ("name", "algo") if k not in method]
        if missing:
            raise DefinitionError(f"{path}: [[method]] {i + 1}: no {', '.join(missing)}")
    select = {**DEFAULT_SELECT[shape(spec)], **spec.get("select", {})}
    if select["score"] not in SCORES:
        raise DefinitionError(f"{path}: [select] score = {select['score']!r}: not in {SCORES}")
    extra = sorted(set(select) - set(DEFAULT_SELECT["single"]))
    if extra:
        raise DefinitionError(f"{path}: [select] {', '.join(extra)}: not score, rows or resume")
    allowed = ROWS if shape(spec) == "problems" else ROWS[:2]  # settling needs a target
    unknown = [r for r in select["rows"] if r not in allowed]
    if unknown:
        raise DefinitionError(f"{path}: [select] rows: {unknown} not in {allowed}")
    spec["select"] = select
    if quick:
        spec = quick_version(spec)
    if data_dir:
        spec = with_data_dir(spec, data_dir)
    capped_budget(spec)
    spec["method_defs"] = spec["method"]
    return spec


def capped_budget(spec: dict[str, Any]) -> None:
    """``CRPSGD_TEST_MAX_T=<T>``, a hook for tests only (as ``crpsgd run`` has): every
    problem's per-worker budget ``T`` is at most ``T``, so a job-script test stays short."""
    cap = os.environ.get("CRPSGD_TEST_MAX_T")
    if not cap:
        return
    for problem in problems(spec):
        problem["run"]["T"] = min(int(problem["run"].get("T", cap)), int(cap))


def tune_seeds(spec: dict[str, Any]) -> list[int]:
    """The seeds every grid point runs on."""
    if shape(spec) == "problems":
        return [spec["tune_seed"]]
    return spec["grid"].get("tune_seeds", spec["grid"].get("seeds", [0]))


def seeds(spec: dict[str, Any]) -> list[int]:
    """The seeds each chosen point runs on."""
    return spec["seeds"] if shape(spec) == "problems" else spec["grid"].get("seeds", [0])


def problems(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every problem of the definition; a single-problem one has one, named None, whose
    ``run`` is the definition's own ``[run]`` table (the same object)."""
    if shape(spec) == "problems":
        return spec["problem"]
    return [{"name": None, "run": spec["run"], "unit": spec.get("unit", "bound"), "target": None}]


def ranks_in_title(title: str, n_workers: int) -> str:
    """The title with every ``N = k`` saying the ranks that ran (a definition's title names
    the N of its job script; a run with fewer ranks must not be titled with it)."""
    return re.sub(r"\bN = \d+", f"N = {n_workers}", title)


def quick_version(spec: dict[str, Any]) -> dict[str, Any]:
    """The short version of ``--quick``: the ``[quick]`` table's ``run`` (and ``grid``)
    overrides, only its ``methods`` (all when absent), each grid axis cut to one value (the
    method's ``reference`` value where it names one, else the first), only the tuning seed;
    results are named ``<name>-quick``."""
    quick = spec.get("quick", {})
    short = copy.deepcopy(spec)
    short["name"] = f"{spec['name']}-quick"
    if shape(short) == "problems":
        short["seeds"] = [spec["tune_seed"]]
        for problem in short["problem"]:
            problem["run"].update(quick.get("run", {}))
            problem["title"] = quick.get("title", problem.get("title"))
            if "figure_name" in quick:  # the quick data is not the problem's (a stand-in)
                problem["figure_name"] = quick["figure_name"]
    else:
        short["run"].update(quick.get("run", {}))
        short["grid"].update(quick.get("grid", {}))
    keep = quick.get("methods")
    short["method"] = [m for m in short["method"] if keep is None or m["name"] in keep]
    for method in short["method"]:
        reference = method.get("reference", {})
        for key, value in method.items():
            if isinstance(value, list) and key not in NOT_FLAGS:
                method[key] = [reference.get(key, value[0])]
    return short


def with_data_dir(spec: dict[str, Any], data_dir: str) -> dict[str, Any]:
    """Every data file (``data``, ``test_data``) taken from ``data_dir`` instead (for
    ``cifar10:DIR``: ``cifar10:data_dir/<DIR's name>``); synthetic data are kept."""
    moved = copy.deepcopy(spec)
    for problem in problems(moved):
        for key in ("data", "test_data"):
            value = problem["run"].get(key)
            if value and value.startswith("cifar10:"):  # a directory of the binary files
                name = Path(value[len("cifar10:") :]).name
                problem["run"][key] = "cifar10:" + str(Path(data_dir).resolve() / name)
            elif value and not value.startswith("synthetic"):
                problem["run"][key] = str(Path(data_dir).resolve() / Path(value).name)
    return moved


def grid_points(method: dict[str, Any], gammas: list[float] | None = None) -> list[dict[str, Any]]:
    """Every combination of the method's list-valued parameters (scalars are fixed).

    With ``gammas`` (single-problem shape) each point also takes each step-size factor as
    ``gamma_factor`` and keeps ``algo``; without, ``algo`` is not part of the point."""
    skip = NOT_FLAGS if gammas is not None else (*NOT_FLAGS, "algo")
    params = {k: v for k, v in method.items() if k not in skip}
    axes = {k: v for k, v in params.items() if isinstance(v, list)}
    points = []
    for values in itertools.product(*axes.values(), *([gammas] if gammas is not None else [])):
        point = {**params, **dict(zip(axes, values[: len(axes)], strict=True))}
        if gammas is not None:
            point["gamma_factor"] = values[-1]
        points.append(point)
    return points


def method_points(spec: dict[str, Any], method: dict[str, Any]) -> list[dict[str, Any]]:
    if shape(spec) == "problems":
        return grid_points(method)
    return grid_points(method, spec["grid"].get("gamma", [1.0]))


def point_id(spec: dict[str, Any], point: dict[str, Any]) -> str:
    """The grid point's part of its log's file name."""
    if shape(spec) == "problems":
        return "-".join(f"{k}={v}" for k, v in sorted(point.items())).replace(" ", "")
    parts = [f"{k}{v}" for k, v in sorted(point.items()) if k != "algo"]
    return "-".join(parts).replace(" ", "")


def log_path(spec, out_dir: Path, problem, method, point, seed: int) -> Path:
    base = out_dir if problem["name"] is None else out_dir / problem["name"]
    return base / method["name"] / f"{point_id(spec, point)}-seed{seed}.h5"


def cli_values(
    spec: dict[str, Any],
    run: dict[str, Any],
    method: dict[str, Any],
    point: dict[str, Any],
    L: float,
) -> dict[str, Any]:
    """``crpsgd run`` flags of one grid point (before the seed and the log): the single shape's
    ``gamma_factor / L``; the problems shape's ``theta x L`` and ``gamma x 1/L`` (for
    Catalyst ``x 1/(L + theta)``, its ``auto`` rule)."""
    if shape(spec) == "single":
        values = {**run, **{k: v for k, v in point.items() if k != "gamma_factor"}}
        values["gamma"] = point["gamma_factor"] / L
        return values
    values = {**run, **point, "algo": method["algo"]}
    if "theta" in point:
        values["theta"] = point["theta"] * L
    if "gamma" in point:
        denominator = L + values["theta"] if method["algo"] == "cr-psgd-catalyst" else L
        values["gamma"] = point["gamma"] / denominator
    return values
