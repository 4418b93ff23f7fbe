"""The benchmark figures (bench/runner/figures.py) drawn from the curves that the results
JSON keeps: few curves that say what they are on an adaptive experiment, the title and the
note of stand-in data kept, the ResNet20 figure named for the digits stand-in, and the same
figure redrawn from the results alone after a tiny run."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, bench_module


def _curve(final: float, note: str = "", points: int = 12) -> dict:
    """A hand-made curve going down to ``final`` (its last ``f - f*``)."""
    sfo = [0] + [2**i for i in range(points - 1)]
    values = [final * 2.0 ** (points - 1 - i) for i in range(points)]
    return {
        "attrs": {"f_star": 0.3, "problem": "logreg", "data_note": note, "data_shape": [500, 4]},
        "eval": {
            "round": list(range(points)),
            "sfo_per_worker": sfo,
            "sfo_total": [4 * s for s in sfo],
            "suboptimality": values,
            "objective": [0.3 + v for v in values],
            "grad_norm_sq": values,
        },
    }


def _method(name: str, score: float, **point) -> dict:
    point = {"algo": "cr-psgd", "b1": 4, "gamma_factor": 4, **point}
    log = f"bench/out/x/{name}.h5"
    return {"method": name, "label": name, "point": point, "logs": [log],
            "median_suboptimality": score}  # fmt: skip


def _default_test() -> str:
    from crpsgd.schedules.adaptive_inner import PARAMS

    (test,) = [p.default for p in PARAMS if p.name == "adaptive_test"]
    return test


DEFAULT = f"adaptive ({_default_test()} test, eta=1: the default), gamma=4/L"


def _adaptive_result() -> dict:
    """The default (whatever test it is) and two norm-test candidates against six rho."""
    norm = {"schedule": "adaptive", "adaptive_test": "norm"}
    methods = [
        _method("adaptive", 5e-3, schedule="adaptive", adaptive_test=_default_test(), eta=1),
        _method("eta-2", 3e-3, **norm, eta=2, gamma_factor=2),
        _method("eta-16", 9e-3, **norm, eta=16),
        *(
            _method(f"rho-{rho:g}", score, rho=rho)
            for rho, score in [
                (1.003, 8e-4),
                (1.01, 6e-4),
                (1.02, 7e-4),
                (1.05, 2e-3),
                (1.1, 4e-3),
                (1.2, 1e-2),
            ]  # fmt: skip
        ),
        _method("psgd-tuned", 8e-4, algo="psgd", batch=256),
    ]
    curves = {m["logs"][0]: _curve(m["median_suboptimality"]) for m in methods}
    title = "l2 logistic regression, a9a, N = 10: adaptive batch"
    return {"name": "adaptive_x", "title": title, "methods": methods, "curves": curves}


@pytest.fixture
def figures_drawn(monkeypatch) -> list:
    """Every matplotlib figure that :func:`crpsgd.analysis.plot.plot_runs` draws and saves."""
    pytest.importorskip("matplotlib")
    plot = pytest.importorskip("crpsgd.analysis.plot")
    drawn, draw = [], plot.draw

    def keep(*args, **kwargs):
        drawn.append(draw(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(plot, "draw", keep)
    return drawn


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


def _last_values(fig) -> list[float]:
    return [float(line.get_ydata()[-1]) for line in fig.axes[0].get_lines()]


def test_an_adaptive_figure_draws_the_schedule_and_the_best_median_and_worst_rho(
    tmp_path, figures_drawn
):
    figures = bench_module("runner.figures")
    result = _adaptive_result()
    assert figures.draw_final(result, tmp_path / "results", tmp_path / "out") == 1
    assert (tmp_path / "results" / "adaptive_x.png").is_file()
    assert (tmp_path / "out" / "adaptive_x.pdf").is_file()
    fig = figures_drawn[0]
    assert _legend(fig) == [
        DEFAULT,
        "adaptive (norm test, eta=2: best of 3 candidates), gamma=2/L",
        "best fixed rho = 1.01 (of 6), gamma=4/L",
        "median fixed rho = 1.003 (of 6), gamma=4/L",
        "worst fixed rho = 1.2 (of 6), gamma=4/L",
    ]
    for ax in fig.axes:  # each label on its own run's curve, nothing else drawn
        assert len(ax.get_lines()) == 5
    assert _last_values(fig) == pytest.approx([5e-3, 3e-3, 6e-4, 8e-4, 1e-2])
    title = fig._suptitle.get_text()
    assert title.startswith(result["title"]) and "every method and rho: adaptive_x.md" in title


def test_the_adaptive_picks_rank_by_the_tables_score():
    """A ``tail`` score ranks the rows, not the final value; the default eta is drawn even
    where it is the best (once)."""
    picks = bench_module("runner.figure_rows").adaptive_picks
    result = _adaptive_result()
    for m in result["methods"]:  # the tail score reverses the ranking of the final values
        m["median_score"] = 1 / m["median_suboptimality"]
    labels = [label for _, label in picks(result)]
    assert labels == [
        DEFAULT,
        "adaptive (norm test, eta=16: best of 3 candidates), gamma=4/L",
        "best fixed rho = 1.2 (of 6), gamma=4/L",
        "median fixed rho = 1.05 (of 6), gamma=4/L",
        "worst fixed rho = 1.01 (of 6), gamma=4/L",
    ]
    result["methods"] = [m for m in result["methods"] if m["method"] != "eta-16"]
    result["methods"][0]["median_score"] = 1e-9
    assert len(picks(result)) == 4  # the default is the best eta: one curve
    one_rho = [m for m in result["methods"] if m["method"] in ("rho-1.003", "adaptive", "eta-2")]
    result["methods"] = one_rho
    assert picks(result)[-1][1] == "fixed rho = 1.003 (the only rho run), gamma=4/L"
    result["methods"] = [m for m in result["methods"] if "rho" not in m["point"]]
    assert picks(result) is None  # no rho grid: every method is drawn


def test_a_figure_without_adaptive_rows_draws_every_method(tmp_path, figures_drawn):
    figures = bench_module("runner.figures")
    result = _adaptive_result()
    result["methods"] = [m for m in result["methods"] if "schedule" not in m["point"]]
    assert figures.draw_final(result, tmp_path, tmp_path) == 1
    assert len(_legend(figures_drawn[0])) == len(result["methods"]) == 7
    del result["curves"][result["methods"][0]["logs"][0]]
    assert figures.draw_final(result, tmp_path, tmp_path) == 0  # a curve missing: kept


def test_the_resnet20_figure_names_and_titles_the_digits_stand_in(tmp_path, figures_drawn):
    """``make bench-resnet20``'s figure: the definition's [quick] title and the logs' data note
    (the digits stand-in, not CIFAR-10) above the panels, ``-digits-standin`` in its name."""
    definition = bench_module("runner.definition")
    figures = bench_module("runner.figures")
    spec = definition.load(ROOT / "bench" / "resnet20.toml", True, None)
    (pdef,) = definition.problems(spec)
    note = "scikit-learn digits stand-in (not CIFAR-10): 1500 training and 297 test images"
    rows = [
        {"selected_by": "score", "logs": [f"{m['name']}.h5"], "label": m["label"], "params": ""}
        for m in spec["method"]
    ]
    problem = {**pdef, "rows": rows, "figure_name": pdef["figure_name"]}
    curves = {r["logs"][0]: _curve(0.01, note) for r in rows}
    report = {"name": spec["name"], "problems": [problem], "curves": curves}
    assert figures.draw_target(report, tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["resnet20-quick-digits-standin.png"]
    title = figures_drawn[0]._suptitle.get_text()
    assert title.startswith(pdef["title"]) and "(not CIFAR-10)" in pdef["title"]
    assert "data: scikit-learn digits stand-in (not CIFAR-10)" in title
    assert len(_legend(figures_drawn[0])) == len(spec["method"])


def test_a_curve_keeps_what_the_figure_reads(tmp_path):
    """A log's curve through the results JSON and back: the x axes, the metrics (6 digits,
    NaN as null), the attributes; a JSON without curves has none."""
    curves = bench_module("runner.curves")
    import numpy as np

    from crpsgd.runlog import RunRecord

    ev = {"round": np.arange(3), "sfo_per_worker": np.array([0, 4, 9]),
          "sfo_total": np.array([0, 8, 18]), "wall_s": np.array([0.0, 0.1, 0.2]),
          "suboptimality": np.array([0.5, 1 / 3, math.nan]),
          "test_accuracy": np.full(3, math.nan)}  # fmt: skip
    attrs = {"f_star": 0.25, "problem": "logreg", "data_note": "x: y", "data_shape": [9, 2]}
    rec = RunRecord(Path("a.h5"), {**attrs, "seed": 3}, {}, {}, ev, None)
    text = curves.with_curves('{\n "name": "n"\n}\n', {"a.h5": curves.curve_of(rec)})
    (tmp_path / "n.json").write_text(text)
    saved = curves.saved_curves(tmp_path / "n.json")
    assert json.loads(text)["name"] == "n" and list(saved) == ["a.h5"]
    assert saved["a.h5"]["attrs"] == attrs
    assert set(saved["a.h5"]["eval"]) == {"round", "sfo_per_worker", "sfo_total", "suboptimality"}
    back = curves.record(saved["a.h5"], "a.h5")
    assert back.eval["suboptimality"][:2] == pytest.approx([0.5, 1 / 3], rel=1e-6)
    assert math.isnan(back.eval["suboptimality"][2])
    assert list(back.eval["sfo_per_worker"]) == [0, 4, 9]
    assert curves.with_curves("{}\n", {}) == "{}\n"
    assert curves.saved_curves(tmp_path / "missing.json") == {}


TINY_ADAPTIVE = """name = "tinyad"
title = "tiny logistic regression: adaptive batch"
command = "make bench-adaptive"
[run]
data = "synthetic:n=2000,d=10,seed=1"
problem = "logreg"
lam = 1e-3
T = 600
fstar = "auto"
eval_factor = 1.3
[grid]
gamma = [1]
seeds = [0]
[[method]]
name = "adaptive"
algo = "cr-psgd"
schedule = "adaptive"
b1 = [4]
""" + "".join(
    f'[[method]]\nname = "rho-{r}"\nalgo = "cr-psgd"\nb1 = [4]\nrho = [{r}]\n'
    for r in (1.01, 1.1, 1.5, 2)
)


@pytest.mark.slow
def test_the_figures_are_redrawn_from_the_results_alone(tmp_path):
    """A run keeps its figure's curves in the results JSON; without the logs,
    ``--analyse-only`` redraws the same JSON and the same figure from it. In a process of
    its own with its own Numba cache (see test_bench_adaptive)."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "tinyad.toml"
    path.write_text(TINY_ADAPTIVE)
    results, out = tmp_path / "results", tmp_path / "out"
    cmd = [sys.executable, "-m", "bench", "experiment", str(path), "--out-dir", str(out)]
    cmd += ["--results-dir", str(results)]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads((results / "tinyad.json").read_text())
    assert len(report["curves"]) == 4  # adaptive; best, median and worst of the 4 rho
    first = {s: (results / f"tinyad{s}").read_bytes() for s in (".json", ".md", ".png")}
    shutil.rmtree(out)
    (results / "tinyad.png").unlink()
    done = subprocess.run(
        [*cmd, "--analyse-only"], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "tinyad: tables and figures redrawn from the committed tinyad.json" in done.stderr
    for suffix, data in first.items():
        assert (results / f"tinyad{suffix}").read_bytes() == data, suffix


TINY_TARGET = """name = "tinyt"
command = "make bench-tiny"
tune_seed = 0
seeds = [0]
[select]
score = "tail"
rows = ["score"]
[[problem]]
name = "syn"
title = "tiny non-convex problem"
target = 1e-2
run = { data = "synthetic:n=1000,d=5,seed=1", problem = "logreg-nonconvex", lam = 0.01, \
alpha = 1.0, T = 512, eval_factor = 1.2 }
[quick]
figure_name = "syn-standin"
[[method]]
name = "cr"
algo = "cr-psgd"
b1 = 4
rho = [1.1]
gamma = [1]
[[method]]
name = "psgd"
algo = "psgd"
batch = [8]
gamma = [1]
"""


@pytest.mark.slow
def test_a_target_experiment_keeps_the_curves_of_its_figure(tmp_path):
    """The problems shape (bench-catalyst, bench-resnet20) records the curves of the rows its
    figure draws, and names the figure by ``[quick] figure_name``."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "tinyt.toml"
    path.write_text(TINY_TARGET)
    cmd = [sys.executable, "-m", "bench", "experiment", str(path), "--quick"]
    cmd += ["--out-dir", str(tmp_path / "out"), "--results-dir", str(tmp_path / "results")]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "results" / "tinyt-quick.json").read_text())
    logs = [r["logs"][0] for p in report["problems"] for r in p["rows"]]
    assert sorted(report["curves"]) == sorted(logs) and len(logs) == 2
    assert (tmp_path / "results" / "tinyt-quick-syn-standin.png").is_file()
