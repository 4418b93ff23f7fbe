"""``make figures`` and every ``--analyse-only`` on a fresh clone (no bench/out/): the tables are
redrawn from the committed results where they hold every run, byte for byte, and the figures
where the results keep their curves, or one line says which ``make bench-*`` to run first;
never a traceback. A committed figure whose results keep its curves is what they draw."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

RESULTS = ROOT / "bench" / "results"


@pytest.fixture
def clone(tmp_path) -> Path:
    """The committed bench/ (definitions, scripts, results) and Makefile, without bench/out."""
    root = tmp_path / "clone"
    (root / "bench").mkdir(parents=True)
    for name in ("Makefile", "setup.cfg", "pyproject.toml"):
        shutil.copy2(ROOT / name, root / name)
    for path in (ROOT / "bench").iterdir():
        if path.name in ("out", "__pycache__"):
            continue
        if path.is_dir():
            shutil.copytree(
                path, root / "bench" / path.name, ignore=shutil.ignore_patterns("__py*")
            )
        else:
            shutil.copy2(path, root / "bench" / path.name)
    return root


def _python(clone: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, *args]
    return subprocess.run(cmd, cwd=clone, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_make_figures_redraws_the_committed_tables(clone):
    if shutil.which("make") is None:
        pytest.skip("make not found")
    venv = Path(sys.executable).parents[1]
    stamp = venv / ".installed-stamp"
    cmd = ["make", "-C", str(clone), "figures", f"VENV={venv}", "-o", str(stamp)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    defined = [p.stem for p in sorted((ROOT / "bench").glob("adaptive_*.toml"))]
    adaptive = [n for n in defined if (RESULTS / f"{n}.json").is_file()]
    for name in defined:  # a definition not run yet is named, its results not invented
        if name not in adaptive:
            assert f"figures: {name} has no committed results yet" in done.stdout
    for name in ("logreg_a9a", "logreg_synthetic", *adaptive):
        for suffix in (".md", ".json", ".png"):  # a PNG without curves is kept as it was
            redrawn = (clone / "bench" / "results" / name).with_suffix(suffix).read_bytes()
            assert redrawn == (RESULTS / name).with_suffix(suffix).read_bytes(), name + suffix
        assert f"{name}: tables" in done.stderr and f"from the committed {name}.json" in done.stderr
    assert "run `make bench-logreg` to redraw them" in done.stderr
    theory = (clone / "bench" / "results" / "theory.md").read_text()
    assert theory == (RESULTS / "theory.md").read_text()
    fair = RESULTS / "fair_dl-table"
    if fair.with_suffix(".json").is_file():  # the fair protocol's table and figure, redrawn
        for suffix in (".md", ".png"):
            redrawn = (clone / "bench" / "results" / fair.name).with_suffix(suffix).read_bytes()
            assert redrawn == fair.with_suffix(suffix).read_bytes(), fair.name + suffix
    else:
        assert "figures: fair_dl has no committed results yet" in done.stdout


@pytest.mark.slow
def test_analyse_only_without_logs_names_the_make_target(clone):
    done = _python(clone, "-m", "bench", "experiment", "bench/catalyst.toml", "--analyse-only")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "run `make bench-catalyst` first" in done.stderr
    assert (clone / "bench" / "results" / "catalyst.md").read_bytes() == (
        RESULTS / "catalyst.md"
    ).read_bytes()
    (clone / "bench" / "results" / "theory.json").unlink()
    done = _python(clone, "-m", "bench", "theory", "--analyse-only")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "run `make bench-theory` first" in done.stderr
    (clone / "bench" / "results" / "logreg_a9a.json").unlink()
    done = _python(clone, "-m", "bench", "experiment", "bench/logreg_a9a.toml", "--analyse-only")
    assert done.returncode == 2 and "run `make bench-logreg` first" in done.stderr


@pytest.mark.slow
def test_a_bad_definition_is_named(clone):
    done = _python(clone, "-m", "bench", "experiment", "bench/missing.toml", "--analyse-only")
    assert done.returncode == 2 and "bench/missing.toml" in done.stderr
    bad = clone / "bench" / "bad.toml"
    bad.write_text(
        'name = "bad"\n[[method]]\nname = "m"\nalgo = "psgd"\n[select]\nscore = "last"\n'
    )
    done = _python(clone, "-m", "bench", "experiment", "bench/bad.toml", "--analyse-only")
    assert done.returncode == 2 and "[select] score = 'last'" in done.stderr
    bad.write_text(
        'name = "bad"\n[[method]]\nname = "m"\nalgo = "psgd"\n[select]\nrows = ["settle"]\n'
    )
    done = _python(clone, "-m", "bench", "experiment", "bench/bad.toml", "--analyse-only")
    assert done.returncode == 2 and "[select] rows: ['settle'] not in" in done.stderr
    bad.write_text('name = "bad"\n[[method]]\nname = "m"\n')
    done = _python(clone, "-m", "bench", "experiment", "bench/bad.toml", "--analyse-only")
    assert done.returncode == 2 and "bad.toml: [[method]] 1: no algo" in done.stderr
    assert "Traceback" not in done.stderr


def _committed_with_curves() -> list[str]:
    names = []
    for path in sorted(RESULTS.glob("*.json")):
        text = path.read_text()
        if '\n "curves": {' in text and (ROOT / "bench" / f"{path.stem}.toml").exists():
            names.append(path.stem)
    return names


@pytest.mark.slow
@pytest.mark.parametrize("name", _committed_with_curves())
def test_a_committed_figure_is_what_its_results_draw(clone, name):
    """A committed figure whose results keep its curves is what ``--analyse-only`` draws from
    them now (a figure left from older code, or from other results, differs)."""
    pytest.importorskip("matplotlib")
    (clone / "bench" / "results" / f"{name}.png").unlink()
    done = _python(clone, "-m", "bench", "experiment", f"bench/{name}.toml", "--analyse-only")
    assert done.returncode == 0, done.stderr
    for suffix in (".png", ".json", ".md"):
        redrawn = (clone / "bench" / "results" / name).with_suffix(suffix).read_bytes()
        assert redrawn == (RESULTS / name).with_suffix(suffix).read_bytes(), name + suffix
