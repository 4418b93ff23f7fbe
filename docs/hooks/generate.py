"""MkDocs hook: the reference pages generated from the code, at build time.

``mkdocs build`` / ``mkdocs serve`` call :func:`on_files`, which adds three pages that exist
only in the built site (nothing generated is committed, so nothing can go stale):

* ``reference/commands.md``: every sub-command's ``--help``, from the parser ``crpsgd`` itself
  builds (:func:`crpsgd.cli.app.build_parser`);
* ``reference/options.md``: every parameter of ``crpsgd run`` from its ``Param`` record
  (:mod:`crpsgd.registry.common_params` and each registered part's own, composed and grouped by
  :func:`crpsgd.registry.param_table.param_groups`, the same records and groups ``crpsgd run
  --help`` prints);
* ``reference/runlog.md``: the run log's schema, from :mod:`crpsgd.runlog.schema` (its
  docstring and its column tables).

It also adds the figures under ``bench/results/`` as ``bench/results/NAME.png``, so the
results pages show them without a copy in ``docs/``. ``crpsgd`` is imported from this
checkout (the directory above ``docs/``), whatever is installed.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GENERATED_NOTE = (
    "<!-- Generated at build time by docs/hooks/generate.py from the code; not a file in "
    "the repository. -->\n\n"
)


def on_files(files, config):
    pages = {
        "reference/commands.md": commands_page(),
        "reference/options.md": options_page(),
        "reference/runlog.md": runlog_page(),
    }
    for uri, text in pages.items():
        files.append(File.generated(config, uri, content=GENERATED_NOTE + text))
    for png in sorted((ROOT / "bench" / "results").glob("*.png")):
        files.append(File.generated(config, f"bench/results/{png.name}", abs_src_path=str(png)))
    return files


def _cell(text: str) -> str:
    """Text for one markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _run_parser():
    from crpsgd.cli.app import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return parser, sub.choices


def commands_page() -> str:
    """``crpsgd --help`` and each ``crpsgd COMMAND --help``, as the command prints them."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: fix it for the page
    try:
        parser, commands = _run_parser()
        out = [
            "# Commands",
            "",
            "The help of `crpsgd` and of each sub-command, as the installed command prints it. "
            "The options of `crpsgd run` are tabulated with their types and defaults in "
            "[crpsgd run options](options.md).",
            "",
            "| command | what it does |",
            "|---|---|",
        ]
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        for action in sub._choices_actions:
            out.append(
                f"| [`crpsgd {action.dest}`](#crpsgd-{action.dest}) | {_cell(action.help)} |"
            )
        out += ["", "## `crpsgd`", "", "```text", parser.format_help().rstrip(), "```"]
        for name, cmd in commands.items():
            out += ["", f"## `crpsgd {name}`", "", "```text", cmd.format_help().rstrip(), "```"]
        return "\n".join(out) + "\n"
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _value(p) -> str:
    from crpsgd.params import describe

    if p.kind is bool:
        return "flag"
    kinds = [p.kind.__name__]
    if p.choices:
        kinds = [" \\| ".join(_code(c) for c in p.choices)]
    kinds += [_code(s) for s in p.special]
    value = ", or ".join(kinds) if p.special else kinds[0]
    allowed = describe(p.check)
    return f"{value} ({_cell(allowed)})" if allowed else value


def options_page() -> str:
    """The parameters of ``crpsgd run``, one table per group of ``crpsgd run --help``."""
    from crpsgd.registry.param_table import param_groups

    _, commands = _run_parser()
    run = commands["run"]
    params = {p.name for _, group in param_groups() for p in group}
    extra = [a for a in run._actions if a.dest not in params and a.dest != "help"]
    out = [
        "# `crpsgd run` options",
        "",
        "Every parameter of `crpsgd run`, generated from the `Param` records the command line, "
        "`--help` and the TOML reader are built from: the common ones, then one group per set of "
        "registered parts (problem, algorithm, batch schedule) that declares them, as "
        "`crpsgd run --help` groups them. A flag of a part that is not selected is refused "
        "(`--rho belongs to --algo cr-psgd/cr-psgd-catalyst, not --algo psgd`). Each parameter "
        "is also a TOML key of `--config` (the name in the first column, `T = 100000`); flags "
        "override the file. Parts added through `CRPSGD_PLUGINS` appear in `--help` and are not "
        "listed here. The [usage page](../usage.md) explains the common ones with examples.",
    ]
    for title, group in param_groups():
        out += ["", f"## {title}", ""]
        out += ["| flag | TOML key | value | default | meaning |", "|---|---|---|---|---|"]
        if title == "common options":
            for a in extra:
                flag = a.option_strings[0]
                out.append(f"| `{flag}` | - | {a.metavar or 'path'} | - | {_cell(a.help)} |")
        for p in group:
            default = "-" if p.default is None else _code(str(p.default))
            out.append(f"| `{p.flag}` | `{p.name}` | {_value(p)} | {default} | {_cell(p.help)} |")
    return "\n".join(out) + "\n"


def _rst_to_md(text: str) -> str:
    """The schema docstring (reStructuredText) as markdown: literal blocks fenced, roles and
    double backquotes as code."""
    text = re.sub(r":(?:data|mod|class|func|attr):`~?([^`]+)`", r"`\1`", text)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    out, literal = [], False
    for line in text.splitlines():
        if literal and line.strip() and not line.startswith(" "):
            while out[-1] == "":
                out.pop()
            out += ["```", ""]
            literal = False
        if not literal and line.rstrip().endswith("::"):
            out += [line.rstrip()[:-1], "", "```text"]
            literal = True
            continue
        if literal and not line.strip() and out[-1] == "```text":
            continue
        out.append(line)
    if literal:
        out.append("```")
    return "\n".join(out)


def runlog_page() -> str:
    """The schema docstring of :mod:`crpsgd.runlog.schema`, then one table per series."""
    from crpsgd.runlog import schema

    doc = (schema.__doc__ or "").strip().splitlines()
    out = [
        "# Run-log schema",
        "",
        f'Generated from `crpsgd/runlog/schema.py`: `format = "{schema.FORMAT}"`, '
        f"`format_version = {schema.FORMAT_VERSION}`; versions read: "
        f"{', '.join(map(str, schema.READABLE_VERSIONS))}. The [run log page](../runlog.md) "
        "explains how the log is written, read while running, repaired and exported.",
        "",
        _rst_to_md("\n".join(doc[1:]).strip()),
    ]
    for series, columns in schema.SCHEMA.items():
        out += [
            "",
            f"## `/{series}`",
            "",
            "| column | dtype | unit | meaning |",
            "|---|---|---|---|",
        ]
        for name, col in columns.items():
            dtype = getattr(col.dtype, "__name__", str(col.dtype))
            out.append(f"| `{name}` | {dtype} | `{col.unit}` | {_cell(col.meaning)} |")
    defaults = {**schema.ROUND_DEFAULTS, **schema.EVAL_DEFAULTS}
    out += [
        "",
        "Columns a caller may leave out, and what the reader fills in for older logs that lack "
        "them: " + ", ".join(f"`{k}` = {v!r}" for k, v in defaults.items()) + ".",
        "",
        "## `/rounds`: columns only some runs write",
        "",
        "Absent from the other runs' logs, and not filled in by the reader.",
        "",
        "| column | dtype | unit | meaning |",
        "|---|---|---|---|",
    ]
    for name, col in schema.ROUND_OPTIONAL_SCHEMA.items():
        dtype = getattr(col.dtype, "__name__", str(col.dtype))
        out.append(f"| `{name}` | {dtype} | `{col.unit}` | {_cell(col.meaning)} |")
    return "\n".join(out) + "\n"
