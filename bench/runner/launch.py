"""A definition run as its own MPI job: for experiments that need one job per rank count
(``python -m bench theory``), where the runner's single job cannot change its number of ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.runner.rows import ROOT


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(v)  # numbers, booleans and strings are TOML as JSON writes them


def toml_text(spec: dict[str, Any]) -> str:
    """``spec`` as a TOML definition: scalars first, then each dict as a table and each list
    of dicts as an array of tables (``[[method]]``)."""
    tables = {k: v for k, v in spec.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in spec.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    lines = [f"{k} = {_value(v)}" for k, v in spec.items() if k not in tables and k not in arrays]
    for name, table in tables.items():
        lines += [f"[{name}]"] + [f"{k} = {_value(v)}" for k, v in table.items()]
    for name, items in arrays.items():
        for item in items:
            lines += [f"[[{name}]]"] + [f"{k} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def run_in_job(spec: dict[str, Any], ranks: int, out_dir: Path, results_dir: Path) -> None:
    """``mpiexec -n ranks python -m bench experiment`` on ``spec`` (``$CRPSGD_MPIEXEC``, else
    the interpreter's own ``mpiexec``); raises ``CalledProcessError`` if the job fails."""
    mpiexec = os.environ.get("CRPSGD_MPIEXEC") or str(Path(sys.executable).parent / "mpiexec")
    with tempfile.TemporaryDirectory() as tmp:
        definition = Path(tmp) / f"{spec['name']}.toml"
        definition.write_text(toml_text(spec))
        cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "bench", "experiment"]
        cmd += [str(definition), "--out-dir", str(out_dir), "--results-dir", str(results_dir)]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
