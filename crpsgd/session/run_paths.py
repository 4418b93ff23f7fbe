"""The files of one run checked together before anything is read or written: every input
(``--data`` and ``--test-data`` where the data-source registry says they name a file,
``--config``, ``--resume``), both outputs, and that no output is an input or the other output
(the rules of :mod:`crpsgd.files.paths`)."""

from __future__ import annotations

import os
from typing import Any

from crpsgd.data.sources import source_of
from crpsgd.errors import UsageError
from crpsgd.files.paths import check_input, check_output, checkpoint_of, same_file

#: ``--resume``'s own file may be rewritten by the resumed run's checkpoint.
_MAY_ALIAS = {("--checkpoint", "--resume")}


def check_run_paths(
    cfg: dict[str, Any], out: str | os.PathLike, resume: str | None = None, active: bool = True
) -> None:
    """Every input, output and alias rule of the module docstring (on ``active`` ranks:
    rank 0, which writes the outputs; a no-op elsewhere)."""
    if not active:
        return
    inputs: dict[str, Any] = {"--config": cfg.get("config"), "--resume": resume}
    for key in ("data", "test_data"):
        source = cfg.get(key)
        if source is not None and source_of(str(source)).names_a_file:
            inputs["--" + key.replace("_", "-")] = source
    inputs = {flag: path for flag, path in inputs.items() if path}
    outputs = {"--out": out, "--checkpoint": checkpoint_of(cfg, out)}
    for flag, path in inputs.items():
        check_input(flag, path)
    for flag, path in outputs.items():
        for other, other_path in inputs.items():
            if (flag, other) not in _MAY_ALIAS and same_file(path, other_path):
                raise UsageError(
                    f"{flag}={path}: is the same file as {other}={other_path}; the run would "
                    "overwrite it: name another file"
                )
    if same_file(outputs["--out"], outputs["--checkpoint"]):
        raise UsageError(
            f"--checkpoint={outputs['--checkpoint']}: is the same file as --out="
            f"{outputs['--out']}: name another file"
        )
    for flag, path in outputs.items():
        check_output(flag, path)
