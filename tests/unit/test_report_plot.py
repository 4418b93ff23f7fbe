"""``crpsgd report`` (comparison table, rounds to a target) and ``crpsgd plot`` (PNG/PDF)."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from crpsgd.analysis.report import comparison_rows, comparison_table, label, reached
from crpsgd.runlog import RunRecord, read_run
from tests.conftest import run_cli

SPEC = "synthetic:n=400,d=6,seed=3"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    common = ["--data", SPEC, "--T", "600", "--lam", "1e-2", "--fstar", "auto", "--quiet"]
    runs = {
        "cr": ["--algo", "cr-psgd", "--b1", "2", "--rho", "1.5"],
        "ps": ["--algo", "psgd", "--batch", "4"],
        "nofstar": ["--algo", "psgd", "--batch", "8", "--fstar", "none"],
    }
    paths = {}
    for name, flags in runs.items():
        paths[name] = d / f"{name}.h5"
        proc = run_cli(["run", *common, *flags, "--out", str(paths[name])])
        assert proc.returncode == 0, proc.stderr
    return paths


def test_report_table_has_rounds_sfo_target_and_time_split(logs):
    proc = run_cli(["report", str(logs["cr"]), str(logs["ps"]), "--target", "1e9"])
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.splitlines()[0].split()
    for column in ("rounds", "SFO/worker", "objective", "rounds@target", "compute", "comm"):
        assert column in head
    assert "cr-psgd(B1=2,rho=1.5" in proc.stdout and "psgd(B=4" in proc.stdout
    # every run is below a huge target at its first logged point: round 0
    rows = comparison_rows([read_run(logs["cr"])], target=1e9)
    assert rows[0]["rounds_to_target"] == 0 and rows[0]["sfo_to_target"] == 0


def test_rounds_to_target_is_the_first_logged_point_below_it(logs):
    run = read_run(logs["ps"])
    sub = run.eval["suboptimality"]
    target = float(np.sort(sub)[len(sub) // 2])
    first = int(np.argmax(sub <= target))
    assert reached(run, target, "suboptimality") == (
        int(run.eval["round"][first]),
        int(run.eval["sfo_per_worker"][first]),
    )
    assert reached(run, -1.0, "suboptimality") is None
    assert "never" in comparison_table([run], target=-1.0)


def test_report_falls_back_to_grad_norm_without_fstar(logs):
    rows = comparison_rows([read_run(logs["nofstar"])], target=1.0)
    assert rows[0]["target_metric"] == "grad_norm_sq"
    assert np.isnan(rows[0]["suboptimality"])


def test_report_csv_and_json(logs):
    proc = run_cli(["report", str(logs["cr"]), str(logs["ps"]), "--format", "csv"])
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [int(r["rounds"]) for r in rows] == [
        read_run(logs["cr"]).summary["rounds"],
        read_run(logs["ps"]).summary["rounds"],
    ]
    proc = run_cli(["report", str(logs["cr"]), "--format", "json", "--target", "0.1"])
    data = json.loads(proc.stdout)
    assert data[0]["target"] == 0.1 and data[0]["target_metric"] == "suboptimality"


def test_report_errors_name_the_file(tmp_path):
    proc = run_cli(["report", str(tmp_path / "missing.h5")])
    assert proc.returncode == 2
    assert "missing.h5" in proc.stderr
    proc = run_cli(["report", str(tmp_path / "missing.h5"), "--target", "abc"])
    assert proc.returncode == 2 and "--target" in proc.stderr


def _record(algo, config, attrs=None):
    return RunRecord(Path("x.h5"), {"algorithm": algo, **(attrs or {})}, config, {}, {}, None)


def test_labels_name_the_key_parameters():
    assert label(_record("psgd", {"batch": 4})) == "psgd(B=4)"
    assert label(_record("cr-psgd", {"b1": 8, "rho": 1.1})) == "cr-psgd(B1=8,rho=1.1)"
    cat = _record("cr-psgd-catalyst", {"b1": 2, "rho": 1.5, "theta": "auto"}, {"theta": 2.5})
    assert label(cat) == "cr-psgd-catalyst(B1=2,rho=1.5,theta=2.5)"
    assert label(_record("local-sgd", {"batch": 4, "period": 10})) == "local-sgd(b=4,H=10)"
    assert label(_record("psgd", {"batch": 4}, {"step_size": 0.5}), gamma=True) == (
        "psgd(B=4,gamma=0.5)"
    )


def test_plot_writes_png_and_pdf(logs, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "figs" / "cmp"
    proc = run_cli(["plot", str(logs["cr"]), str(logs["ps"]), "--out", str(out), "--title", "t"])
    assert proc.returncode == 0, proc.stderr
    for ext in ("png", "pdf"):
        path = out.parent / f"cmp.{ext}"
        assert path.is_file() and path.stat().st_size > 1000
    assert (out.parent / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out.parent / "cmp.pdf").read_bytes()[:5] == b"%PDF-"


def test_plot_metrics_and_errors(logs, tmp_path):
    pytest.importorskip("matplotlib")
    from crpsgd.analysis.plot import choose_metrics

    runs = [read_run(logs["cr"]), read_run(logs["nofstar"])]
    assert choose_metrics(runs[:1]) == ["suboptimality"]
    assert choose_metrics(runs) == ["objective"]
    assert choose_metrics(runs, ["objective", "grad_norm_sq"]) == ["objective", "grad_norm_sq"]
    proc = run_cli(
        ["plot", str(logs["nofstar"]), "--metric", "suboptimality", "--out", str(tmp_path / "a")]
    )
    assert proc.returncode == 2 and "f*" in proc.stderr and "nofstar.h5" in proc.stderr
    proc = run_cli(
        [
            "plot",
            str(logs["cr"]),
            "--metric",
            "grad_norm_sq",
            "--metric",
            "objective",
            "--format",
            "png",
            "--out",
            str(tmp_path / "b.png"),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b.png").is_file() and not (tmp_path / "b.pdf").exists()
