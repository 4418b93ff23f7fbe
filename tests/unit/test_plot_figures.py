"""``crpsgd plot`` figures a reader can use: titles kept in the saved files, test accuracy,
x axes of SFO, epochs, rounds or seconds on log or linear scales; one message for a bad title
or output place; ``report``/``project`` JSON without NaN or Infinity."""

import json

import numpy as np
import pytest

from crpsgd.runlog import read_run
from tests.conftest import run_cli

COMMON = ["--data", "synthetic:n=200,d=4,seed=1", "--T", "300", "--lam", "1e-2", "--quiet"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("figs")
    paths = {"cr": d / "cr.h5", "ps": d / "ps.h5"}
    test = ["--test-data", "synthetic:n=100,d=4,seed=2"]
    for name, algo in (("cr", ["--algo", "cr-psgd"]), ("ps", ["--algo", "psgd", "--batch", "4"])):
        proc = run_cli(["run", *algo, *COMMON, *test, "--out", str(paths[name])])
        assert proc.returncode == 0, proc.stderr
    return paths


def _top_band_columns(path, rows=12):
    """Columns of dark pixels in the top ``rows`` rows of a PNG, and its width."""
    import matplotlib.image

    img = matplotlib.image.imread(str(path))[:rows, :, :3]
    return np.flatnonzero((img < 0.5).any(axis=(0, 2))), img.shape[1]


def _plot(logs, out, *flags):
    return run_cli(["plot", str(logs["cr"]), str(logs["ps"]), "--out", str(out), *flags])


def test_the_title_is_kept_in_the_saved_files(logs, tmp_path):
    """Seen failing before: savefig's bbox_extra_artists=fig.legends cropped the title, so
    the saved file began with the panels' frames."""
    pytest.importorskip("matplotlib")
    proc = _plot(logs, tmp_path / "titled", "--format", "png", "--title", "My title")
    assert proc.returncode == 0, proc.stderr
    cols, width = _top_band_columns(tmp_path / "titled.png")
    # the top of the figure is the short, centred title, not the panels' frames
    assert cols.size and cols.min() > 0.3 * width and cols.max() < 0.7 * width


def test_test_accuracy_and_x_axes(logs, tmp_path):
    pytest.importorskip("matplotlib")
    from crpsgd.analysis.plot import draw

    runs = [read_run(logs["cr"]), read_run(logs["ps"])]
    fig = draw(runs, ["test_accuracy"], x=["sfo", "epochs", "rounds", "seconds"])
    axes = fig.axes
    assert [a.get_xlabel().split()[0] for a in axes] == [
        "SFO",
        "epochs",
        "communication",
        "seconds",
    ]
    assert axes[0].get_ylabel() == "test accuracy"
    assert all(a.get_xscale() == "log" for a in axes)
    line = axes[1].get_lines()[0]  # epochs = SFO of all workers / training rows
    ev = runs[0].eval
    keep = ev["sfo_total"] > 0
    np.testing.assert_allclose(line.get_xdata(), ev["sfo_total"][keep] / 200)
    np.testing.assert_allclose(line.get_ydata(), ev["test_accuracy"][keep])
    linear = draw(runs, ["objective"], x=["sfo"], xscale="linear")
    assert linear.axes[0].get_xscale() == "linear"
    assert linear.axes[0].get_lines()[0].get_xdata()[0] == 0  # the initial point is kept
    proc = _plot(logs, tmp_path / "acc", "--metric", "test_accuracy", "--x", "seconds")
    assert proc.returncode == 0, proc.stderr


def test_a_metric_a_run_did_not_log_is_one_message(logs, tmp_path):
    proc = _plot(logs, tmp_path / "x", "--metric", "test_loss")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--metric=test_loss" in proc.stderr and "cr.h5" in proc.stderr


def test_a_title_matplotlib_cannot_render_is_one_message(logs, tmp_path):
    proc = _plot(logs, tmp_path / "x", "--title", r"$\frac{$")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--title=" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_plot_creates_missing_folders_and_names_a_place_it_cannot_use(logs, tmp_path):
    proc = _plot(logs, tmp_path / "new" / "deeper" / "fig", "--format", "png")
    assert proc.returncode == 0 and (tmp_path / "new" / "deeper" / "fig.png").is_file()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = _plot(logs, blocker / "fig")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("crpsgd: error: --out=") and "Traceback" not in proc.stderr
    assert blocker.read_text() == "x"


def _strict(text):
    def refuse(name):
        raise AssertionError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_report_json_is_json_with_the_reason_for_each_null(logs):
    proc = run_cli(["report", str(logs["cr"]), str(logs["ps"]), "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    rows = _strict(proc.stdout)
    assert rows[0]["suboptimality"] is None
    assert "f*" in rows[0]["why_null"]["suboptimality"]
    assert 0 <= rows[0]["test_accuracy"] <= 1
    text = run_cli(["report", str(logs["cr"]), str(logs["ps"])]).stdout
    assert "test acc" in text.splitlines()[0]


def test_project_json_is_json_when_a_value_overflows(logs):
    flags = ["--net-alpha", "1e308", "--net-beta", "1e308", "--format", "json"]
    proc = run_cli(["project", str(logs["ps"]), *flags])
    assert proc.returncode == 0, proc.stderr
    first = _strict(proc.stdout)["runs"][0]["projection"][0]
    assert first["comm_s"] is None and "infinite" in first["why_null"]["comm_s"]
