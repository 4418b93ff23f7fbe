"""The documentation site builds with ``mkdocs build --strict`` (no broken link or anchor, no
page left out of the nav), its generated reference pages cover every parameter and every
log column, the page of ``crpsgd.torch.train`` lists every argument and keyword it takes, and
the README's relative links point at files of the repository."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip(
            "MkDocs is not installed: install the docs extra (make install EXTRAS=...,docs)"
        )
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-4000:]}"
    return out


def test_strict_build_has_every_page(site):
    pages = sorted(p.relative_to(ROOT / "docs") for p in (ROOT / "docs").rglob("*.md"))
    for page in pages:
        html = site / page.with_suffix("") / "index.html"
        if page.name == "index.md":
            html = site / page.parent / "index.html"
        assert html.is_file(), f"docs/{page} was not built"


def test_options_reference_lists_every_parameter(site):
    from crpsgd.registry.param_table import all_params

    html = (site / "reference" / "options" / "index.html").read_text()
    for p in all_params():
        assert f"<code>{p.flag}</code>" in html, f"{p.flag} missing from reference/options"
    assert "<code>--config</code>" in html and "<code>--resume</code>" in html


def test_runlog_reference_lists_every_column(site):
    from crpsgd.runlog.schema import FORMAT_VERSION, SCHEMA

    html = (site / "reference" / "runlog" / "index.html").read_text()
    assert f"format_version = {FORMAT_VERSION}" in html
    for series, columns in SCHEMA.items():
        assert f"<code>/{series}</code>" in html
        for name in columns:
            assert f"<code>{name}</code>" in html, f"/{series}/{name} missing"


def test_commands_reference_lists_every_subcommand(site):
    from crpsgd.cli.app import build_parser

    html = (site / "reference" / "commands" / "index.html").read_text()
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None))
    for name in sub.choices:
        assert f"crpsgd {name}" in html


def test_results_figures_are_served(site):
    assert (site / "bench" / "results" / "logreg_a9a.png").is_file()


def test_readme_links_point_at_files():
    text = (ROOT / "README.md").read_text()
    for m in LINK.finditer(text):
        target = m["target"].split("#")[0]
        if not target or re.match(r"[a-z]+:", target):
            continue
        assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def _first_column_names(page: str, heading: str) -> list[str]:
    """The backquoted names in the first column of the table under the first heading of
    ``page`` that starts with ``heading``."""
    text = (ROOT / "docs" / page).read_text()
    section = text.split(f"\n{heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return [name for cell in rows for name in re.findall(r"`([^`]+)`", cell)]


def test_torch_api_page_lists_every_argument_and_keyword_of_train_once():
    pytest.importorskip("torch")
    import inspect

    from crpsgd.torch import train
    from crpsgd.torch.keywords import valid_names

    listed = _first_column_names("torch-api.md", "## Keywords\n")
    missing = sorted(set(valid_names()) - set(listed))
    assert not missing, f"docs/torch-api.md, Keywords: not documented: {missing}"
    stale = sorted(set(listed) - set(valid_names()))
    assert not stale, f"docs/torch-api.md, Keywords: not keywords of train(): {stale}"
    assert len(listed) == len(set(listed)), "docs/torch-api.md, Keywords: a name listed twice"
    params = inspect.signature(train).parameters.values()
    own = [("**" if p.kind is p.VAR_KEYWORD else "") + p.name for p in params]
    arguments = _first_column_names("torch-api.md", "## `train(")
    assert arguments == own, f"docs/torch-api.md: the table of train()'s arguments: {own}"
