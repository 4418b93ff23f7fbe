"""``crpsgd export`` round-trips every column; labels, tables and legends tell runs apart."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from crpsgd.analysis.report import comparison_table, differing, distinguishing_labels, summary_table
from crpsgd.runlog import read_run
from tests.conftest import run_cli

COMMON = ["--T", "300", "--lam", "1e-2", "--quiet"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    specs = {
        "a": ["--data", "synthetic:n=200,d=4,seed=1", "--seed", "0", "--fstar", "auto"],
        "b": ["--data", "synthetic:n=200,d=4,seed=1", "--seed", "1", "--fstar", "auto"],
        "c": ["--data", "synthetic:n=300,d=4,seed=2", "--seed", "0", "--fstar", "auto"],
        "cat": [
            "--data",
            "synthetic:n=200,d=4,seed=1",
            "--algo",
            "cr-psgd-catalyst",
            "--problem",
            "logreg-nonconvex",
            "--b1",
            "2",
            "--rho",
            "1.5",
        ],
    }
    paths = {}
    for name, flags in specs.items():
        paths[name] = d / f"{name}.h5"
        algo = [] if "--algo" in flags else ["--algo", "psgd", "--batch", "4"]
        proc = run_cli(["run", *algo, *COMMON, *flags, "--out", str(paths[name])])
        assert proc.returncode == 0, proc.stderr
    return paths


def _same(column, values):
    """Exported values equal the log's column bit for bit (NaN where NaN)."""
    column = np.asarray(column)
    if column.dtype.kind == "f":
        got = np.array([math.nan if v is None else float(v) for v in values])
        np.testing.assert_array_equal(got, column)  # NaN == NaN for assert_array_equal
        assert got.tobytes() == column.tobytes()
    else:
        assert [int(v) for v in values] == column.tolist()


@pytest.mark.parametrize("name", ["a", "cat"])
def test_export_round_trips_every_column(logs, tmp_path, name):
    run = read_run(logs[name])
    tables = {"rounds": run.rounds, "eval": run.eval, "outer": run.outer}
    for fmt in ("csv", "json"):
        out = tmp_path / fmt
        proc = run_cli(["export", str(logs[name]), "--to", fmt, str(out)])
        assert proc.returncode == 0, proc.stderr
        for stem, columns in tables.items():
            path = out / f"{stem}.{fmt}"
            if fmt == "csv":
                with path.open(newline="") as f:
                    rows = list(csv.DictReader(f))
                with path.open(newline="") as f:
                    assert next(csv.reader(f)) == list(columns)  # header even without rows
            else:
                rows = json.loads(path.read_text())
            assert len(rows) == len(next(iter(columns.values())))
            for col, values in columns.items():
                _same(values, [r[col] for r in rows])
        if fmt == "csv":
            with (out / "result.csv").open(newline="") as f:
                rows = list(csv.DictReader(f))
            _same(run.x, [r["x"] for r in rows])
            with (out / "attributes.csv").open(newline="") as f:
                attrs = {r["name"]: r["value"] for r in csv.DictReader(f)}
        else:
            _same(run.x, [r["x"] for r in json.loads((out / "result.json").read_text())])
            attrs = json.loads((out / "attributes.json").read_text())
        assert attrs["status"] == "completed" and attrs["algorithm"] == run.attrs["algorithm"]
        assert str(attrs["result.rounds"]) == str(run.summary["rounds"])
        assert attrs["unit.rounds.wall_s"] == "s"
    if name == "cat":
        assert len(run.outer["outer"]) > 0
    # numpy reads the CSV as well (header names, NaN as 'nan')
    arr = np.genfromtxt(tmp_path / "csv" / "eval.csv", delimiter=",", names=True)
    np.testing.assert_array_equal(arr["objective"], run.eval["objective"])


def test_export_refuses_a_file_as_directory(logs, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    proc = run_cli(["export", str(logs["a"]), "--to", "csv", str(target)])
    assert proc.returncode == 2 and "not a directory" in proc.stderr


def test_labels_and_tables_name_what_differs(logs):
    runs = [read_run(logs[k]) for k in ("a", "b", "c")]
    assert differing(runs) == ["data", "seed", "gamma"]  # gamma = 1/L: L depends on the data
    labels = distinguishing_labels(runs)
    assert len(set(labels)) == 3
    assert "seed=1" in labels[1] and "data=synthetic:n=300,d=4,seed=2 " in labels[2]
    # two logs of the same run: only the file stem tells them apart
    twins = [read_run(logs["a"]), read_run(logs["a"])]
    twins[1].path = Path("copy.h5")
    assert differing(twins) == ["file"]
    assert distinguishing_labels(twins)[1].endswith("file=copy")
    table = summary_table(runs)
    head = table.splitlines()[0].split()
    assert head[:3] == ["run", "data", "seed"]
    assert "n=300" in table.splitlines()[4]
    assert comparison_table(runs).splitlines()[0].split()[:3] == ["run", "data", "seed"]


def test_plot_legend_is_outside_every_axes(logs):
    pytest.importorskip("matplotlib")
    from crpsgd.analysis.plot import draw

    runs = [read_run(logs[k]) for k in ("a", "b", "c")]
    fig = draw(runs, ["suboptimality", "objective"])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == distinguishing_labels(runs)
    for ax in fig.axes:
        box = ax.get_tightbbox(renderer)  # the axes with its ticks and labels
        assert not box.overlaps(legend), "the legend covers an axes"
        assert legend.y1 <= box.y0  # below every panel


def test_help_texts_describe_positionals_without_markup():
    top = run_cli(["--help"]).stdout
    assert "``" not in top and "export" in top and "repair" in top
    info = run_cli(["info", "--help"]).stdout
    assert "run logs written by crpsgd run" in info
    conv = run_cli(["convert", "--help"]).stdout
    assert "LIBSVM text file to read" in conv and "crpsgd HDF5 data file to write" in conv
    assert "--to {csv,json}" in run_cli(["export", "--help"]).stdout
