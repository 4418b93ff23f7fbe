"""The experiment definitions under bench/ (every one parses, in full and ``--quick``, and each
grid point is a valid ``crpsgd run`` configuration), the adaptive ones' rows (default eta, the
eta sweep, a rho grid, the tuned batch), the single-problem shape's ``unit`` and tail score,
and bench/adaptive_target.py's target, per-eta and minimax tables on hand-made results."""

import json
import math
import os
import shutil
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from crpsgd.registry.config import merge
from crpsgd.schedules.adaptive import DEFAULT_ETA
from crpsgd.schedules.adaptive_inner import PARAMS as TEST_PARAMS
from tests.conftest import ROOT, bench_module

definition = bench_module("runner.definition")
target = bench_module("adaptive_target")
DEFINITIONS = sorted((ROOT / "bench").glob("*.toml"))
ADAPTIVE = sorted((ROOT / "bench").glob("adaptive_*.toml"))
ETAS = (1, 2, 4, 8, 16)
(DEFAULT_TEST,) = [p.default for p in TEST_PARAMS if p.name == "adaptive_test"]


def _run_flags(spec):
    """Every grid point's ``crpsgd run`` flags (L = 1 for the unit), as the runner passes them."""
    for pdef in definition.problems(spec):
        for method in spec["method"]:
            for point in definition.method_points(spec, method):
                values = definition.cli_values(spec, pdef["run"], method, point, 1.0)
                yield method["name"], {k: str(v) for k, v in {**values, "seed": 0}.items()}


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_every_definition_gives_valid_run_configurations(path, quick):
    spec = definition.load(path, quick)
    from crpsgd.registry import param_table

    known = {p.name for p in param_table.all_params()}
    flags = list(_run_flags(spec))
    assert flags, path
    for name, values in flags:
        assert set(values) <= known, (path.name, name, set(values) - known)
        # as typed on the command line: a key of a part that is not selected is an error too
        cfg = merge(values, None, command_line=True)
        assert cfg["algo"] == values["algo"]
    if quick:
        keep = spec.get("quick", {}).get("methods")
        full = {m["name"] for m in definition.load(path)["method"]}
        assert keep is None or set(keep) <= full, path.name


@pytest.mark.parametrize("path", ADAPTIVE, ids=lambda p: p.name)
def test_adaptive_definitions_have_the_candidates_the_default_and_a_rho_grid(path):
    """Every adaptive row names its test and eta (a change of the default relabels no
    result); the norm test's eta sweep and the inner-product rows are there, one of them at
    the code's defaults (the row adaptive_target.py checks), all with the same B_1."""
    raw = tomllib.loads(path.read_text())
    spec = definition.load(path)
    methods = {m["name"]: m for m in spec["method"]}
    assert definition.shape(spec) == "single"  # adaptive_target.py reads that shape's results
    adaptive = {n: m for n, m in methods.items() if m.get("schedule") == "adaptive"}
    assert all({"adaptive_test", "eta"} <= set(m) for m in adaptive.values()), path.name
    b1 = methods["eta-1"]["b1"]
    swept = {m["eta"] for name, m in adaptive.items() if m["adaptive_test"] == "norm"}
    assert swept == set(ETAS)
    for name, row in adaptive.items():
        prefix = "eta-" if row["adaptive_test"] == "norm" else "ip-eta-"
        assert name == f"{prefix}{row['eta']:g}" and row["b1"] == b1
        assert f"{row['adaptive_test']} test, eta = {row['eta']:g}" in row["label"]
    assert {m["eta"] for m in adaptive.values() if m["adaptive_test"] == "inner-product"}
    defaults = [
        n
        for n, m in adaptive.items()
        if (m["adaptive_test"], m["eta"]) == (DEFAULT_TEST, DEFAULT_ETA)
    ]
    assert len(defaults) == 1, path.name
    rhos = [m for name, m in methods.items() if name.startswith("rho-")]
    assert len(rhos) >= 3
    for m in rhos:
        assert m["rho"] == [float(m["name"][len("rho-") :])] and m["b1"] == b1
    assert methods["psgd-tuned"]["algo"] == "psgd"
    assert all("gamma" not in m for m in spec["method"])  # one step-size grid for all
    assert raw["command"] == "make bench-adaptive"
    if raw["run"].get("problem") == "torch":
        assert "not CIFAR-10" in raw["title"] and raw["unit"] == "absolute"
    else:
        assert raw.get("unit", "bound") in ("bound", "estimate")
    quick = definition.load(path, quick=True)
    assert {defaults[0], "psgd-tuned"} <= {m["name"] for m in quick["method"]}


@pytest.mark.parametrize("quick", ["", "QUICK=1"])
def test_make_bench_adaptive_runs_every_adaptive_definition_and_checks_them_all(quick):
    if shutil.which("make") is None:
        pytest.skip("make not found")
    cmd = ["make", "-n", "-C", str(ROOT), "bench-adaptive", "-o", ".venv/.installed-stamp"]
    done = subprocess.run([*cmd, *([quick] if quick else [])], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.replace("\\\n", " ").splitlines()
    results = "bench/out/adaptive-quick" if quick else "bench/results"
    suffix = "-quick" if quick else ""
    (check,) = [line for line in lines if "-m bench adaptive-target" in line]
    for path in ADAPTIVE:
        (run,) = [line for line in lines if f"-m bench experiment bench/{path.name}" in line]
        assert ("--quick --results-dir bench/out/adaptive-quick" in run) == bool(quick)
        assert f"{results}/{path.stem}{suffix}.json" in check
    assert f"--out {results}/adaptive" in check
    assert f"--theory {results}/adaptive_theory.json" in check
    (theory,) = [i for i, line in enumerate(lines) if "-m bench adaptive-theory" in line]
    assert theory < lines.index(check)  # the target's minimax reads the theory check


def test_a_single_definition_unit_is_checked_and_carried(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nunit = "guess"\n[[method]]\nname = "m"\nalgo = "psgd"\n')
    with pytest.raises(definition.DefinitionError, match=r"bad.toml: unit = 'guess': not in"):
        definition.load(path)
    path.write_text(path.read_text().replace('"guess"', '"absolute"'))
    (problem,) = definition.problems(definition.load(path))
    assert problem["unit"] == "absolute"
    path.write_text(path.read_text().replace('unit = "absolute"\n', ""))
    assert definition.problems(definition.load(path))[0]["unit"] == "bound"


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["absolute", "estimate"])
def test_single_shape_with_a_unit_and_the_tail_score(tmp_path, unit):
    """The network (no smoothness bound) in the single shape, on one rank: the step size of
    the log is the grid value itself (absolute) or over the Hessian estimate, and the chosen
    row's tail score is the median ``||grad f||^2`` of the second half of T. In a process of its
    own with its own Numba cache: kernels compiled in another order than a fresh run's differ
    in the last bit (a cached callee is linked, not inlined), which test_bit_for_bit would see."""
    launch = bench_module("runner.launch")
    from crpsgd.runlog import read_run

    run = {"data": "synthetic:n=400,d=5,seed=1", "problem": "mlp", "hidden": 4, "T": 256}
    spec = {"name": "tinynet", "metric": "grad_norm_sq", "unit": unit, "run": run}
    spec["run"]["eval_factor"] = 1.2
    spec["grid"] = {"gamma": [0.05, 0.2], "seeds": [0]}
    spec["select"] = {"score": "tail"}
    spec["method"] = [{"name": "psgd-tuned", "algo": "psgd", "batch": [4, 16]}]
    path = tmp_path / "tinynet.toml"
    path.write_text(launch.toml_text(spec))
    cmd = [sys.executable, "-m", "bench", "experiment", str(path)]
    cmd += ["--out-dir", str(tmp_path / "out"), "--results-dir", str(tmp_path / "results")]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "results" / "tinynet.json").read_text())
    L = report["L"]
    assert (L == 1.0) if unit == "absolute" else (math.isfinite(L) and L > 0)
    assert report.get("unit") == unit and report["score"] == "tail"
    runs = report["runs"]
    assert len(runs) == 4
    for r in runs:
        rec = read_run(ROOT / r["log"])
        assert rec.attrs["step_size"] == pytest.approx(r["point"]["gamma_factor"] / L, rel=1e-15)
        values, sfo = rec.eval["grad_norm_sq"], rec.eval["sfo_per_worker"]
        tail = values[sfo >= 256 / 2]
        assert r["score"] == pytest.approx(float(np.median(tail)), rel=1e-15)
    (row,) = report["methods"]
    best = min(runs, key=lambda r: r["score"])
    assert row["point"] == best["point"] and row["median_score"] == best["score"]
    table = (tmp_path / "results" / "tinynet.md").read_text()
    assert "‖grad f‖², 2nd-half median" in table
    assert ("absolute step sizes" in table) == (unit == "absolute")


# ---- bench/adaptive_target.py on hand-made results ----


def _row(method, error, rounds, score=None, **point):
    row = {"method": method, "median_suboptimality": error, "rounds": rounds, "point": point}
    if score is not None:
        row["median_score"] = score
    return row


def _results():
    """Two problems: a final-error one and a tail-scored one (whose final values differ from
    its scores, so a check that read them would be wrong)."""
    convex = {
        "name": "convex",
        "methods": [
            _row("adaptive", 1.2, 140, schedule="adaptive"),
            _row("eta-1", 3.0, 30, eta=1),
            _row("eta-8", 1.2, 140, eta=8),
            _row("eta-16", 0.9, 400, eta=16),
            _row("rho-1.01", 1.0, 100, rho=1.01),
            _row("rho-1.1", 2.0, 20, rho=1.1),
            _row("rho-1.2", 4.0, 10, rho=1.2),
            _row("psgd-tuned", 1.5, 50, batch=16),
        ],
    }
    tail = {
        "name": "nonconvex",
        "metric": "grad_norm_sq",
        "score": "tail",
        "methods": [
            _row("adaptive", 99.0, 60, score=2.0),
            _row("eta-1", 99.0, 20, score=1.0),
            _row("eta-8", 99.0, 60, score=2.0),
            _row("rho-1.02", 0.0, 40, score=1.0, rho=1.02),
            _row("rho-1.05", 0.0, 20, score=3.0, rho=1.05),
            _row("rho-1.1", 0.0, 10, score="inf", rho=1.1),  # a failed run, as the JSON has it
        ],
    }
    return [convex, tail]


def test_the_target_check_reads_final_or_tail_errors():
    convex, tail = (target.check(r, "norm", 8.0) for r in _results())  # the eta-8 rows
    assert (convex["best_rho"], convex["best_error"], convex["median_rho_error"]) == (1.01, 1, 2)
    assert convex["error_ratio"] == pytest.approx(1.2) and convex["rounds_ratio"] == 1.4
    assert convex["met"] and convex["tuned_batch_error"] == 1.5
    assert convex["measure"] == "final f - f*"
    assert (tail["best_rho"], tail["best_error"], tail["median_rho_error"]) == (1.02, 1, 3)
    assert (tail["error_ratio"], tail["rounds_ratio"], tail["met"]) == (2.0, 1.5, False)
    assert tail["measure"] == "‖grad f‖², 2nd-half median" and tail["tuned_batch_error"] is None
    assert target.check(_results()[0], "norm", 1.0)["adaptive_error"] == 3.0  # the eta-1 row
    # a row without a test ran the default: eta-1 is the inner-product default's row too
    assert target.check(_results()[0], "inner-product", 1.0)["adaptive_error"] == 3.0
    explicit = _results()[0]
    explicit["methods"][1]["point"]["adaptive_test"] = "norm"
    legacy = target.check(explicit, "inner-product", 1.0)  # no row: the one named adaptive
    assert (legacy["adaptive_error"], legacy["default"]) == (1.2, "inner-product 1")
    explicit["methods"] = explicit["methods"][1:]
    with pytest.raises(ValueError, match="no row of the default"):
        target.check(explicit, "inner-product", 1.0)


def _reference_ratios():
    """Per (problem, eta): (error ratio, rounds ratio, met), computed by hand from _results."""
    return {
        ("convex", 1): (3.0, 0.3, False),  # 3.0 is not below the median rho's 2.0
        ("convex", 8): (1.2, 1.4, True),
        ("convex", 16): (0.9, 4.0, False),
        ("nonconvex", 1): (1.0, 0.5, True),
        ("nonconvex", 8): (2.0, 1.5, False),
    }


def test_the_eta_sweep_per_problem_worst_case_and_minimax():
    s = target.sweep(_results(), default_eta=8.0)
    got = {(r["problem"], r["eta"]): r for r in s["rows"]}
    expected = _reference_ratios()
    assert set(got) == set(expected)  # the default row is not counted twice
    for key, (err, rounds, met) in expected.items():
        assert got[key]["error_ratio"] == pytest.approx(err)
        assert got[key]["rounds_ratio"] == pytest.approx(rounds)
        assert got[key]["met"] is met
        assert got[key]["slack"] == pytest.approx(max(err / 1.25, rounds / 1.5))
    worst = {w["eta"]: w for w in s["worst"]}
    for eta in (1, 8, 16):
        mine = [v for (p, e), v in expected.items() if e == eta]
        assert worst[eta]["problems"] == len(mine)
        assert worst[eta]["max_error_ratio"] == pytest.approx(max(v[0] for v in mine))
        assert worst[eta]["max_rounds_ratio"] == pytest.approx(max(v[1] for v in mine))
        assert worst[eta]["met"] == sum(v[2] for v in mine)
    # eta = 16 has the smallest worst error ratio but ran on one problem only: not a candidate
    assert s["minimax_eta_error"] == 8.0  # worst 2.0 against eta = 1's 3.0
    assert s["minimax_eta_slack"] == 8.0  # max(2.0/1.25, 1.5/1.5) = 1.6 against 3.0/1.25 = 2.4
    text = target.sweep_table(s)
    assert "| convex | 3.00 / 0.30 | 1.20 / 1.40 ✓ | 0.90 / 4.00 |" in text
    assert "| nonconvex | 1.00 / 0.50 ✓ | 2.00 / 1.50 | - |" in text
    assert "eta = 8 (default)" in text and "| 16 | 1 | 0.90 | 4.00 | 2.67 | 0/1 | 1/1 |" in text
    assert "Minimax eta (smallest worst error ratio): 8;" in text


def _theory(b: dict[str, float], rho: dict[str, float]) -> dict:
    """bench/adaptive_theory.py's results: fixed b = 7, candidates' b and late growth."""
    schedules = {"fixed rho = 1.15": {"b": 7.0, "effective_rho": 1.15}}
    for name in b:
        schedules[f"adaptive {name}"] = {"b": b[name], "effective_rho": rho[name]}
    return schedules


def test_the_minimax_leaves_out_candidates_that_fail_the_theory_check():
    """eta = 8 is the minimax of _results; where its rounds are not logarithmic (b > 3x the
    fixed 7) or its batch stops growing, the next candidate run everywhere is chosen."""
    assert target.passes(_theory({"1": 21.0}, {"1": 1.05}), "1") is True
    assert target.passes(_theory({"1": 22.0}, {"1": 1.05}), "1") is False  # 22 > 3 x 7
    assert target.passes(_theory({"1": 7.0}, {"1": 1.005}), "1") is False  # stalled
    assert target.passes(_theory({}, {}), "1") is None
    stalls = _theory({"1": 20.0, "8": 1800.0}, {"1": 1.05, "8": 1.0})
    s = target.sweep(_results(), default_eta=8.0, theory=stalls)
    assert s["minimax_eta_error"] == 1.0 and s["minimax_eta_slack"] == 1.0
    text = target.sweep_table(s)
    assert "| 8 | 2 | 2.00 | 1.50 | 1.60 | 1/2 | 2/2 | fails |" in text
    assert "| 16 | 1 | 0.90 | 4.00 | 2.67 | 0/1 | 1/1 | - |" in text
    assert "every problem that pass the theory check)" in text
    assert target.sweep(_results(), default_eta=8.0)["minimax_eta_error"] == 8.0  # without


def test_inner_product_rows_are_candidates_of_their_own():
    results = _results()
    for result, (err, rounds) in zip(results, ((1.0, 80), (1.1, 25)), strict=True):
        result["methods"].append(
            _row("ip-eta-1", err, rounds, score=err, eta=1, adaptive_test="inner-product")
        )
    s = target.sweep(results, default_eta=8.0)
    ip = [w for w in s["worst"] if w["test"] == "inner-product"]
    assert [(w["candidate"], w["problems"]) for w in ip] == [("inner-product 1", 2)]
    norm_one = [r for r in s["rows"] if r["candidate"] == "1"]
    assert len(norm_one) == 2 and all(r["test"] == "norm" for r in norm_one)
    # convex: 1.0 against the best rho 1.0 (80 / 100 rounds); nonconvex: 1.1 against 1.0 (25 / 40)
    assert ip[0]["max_error_ratio"] == pytest.approx(1.1)
    assert s["minimax_candidate_error"] == "inner-product 1"
    assert s["minimax_eta_error"] == 1.0  # its eta; the candidate names the test
    text = target.sweep_table(s)
    assert "inner-product, eta = 1" in text and "| inner-product 1 | 2 |" in text
    assert "Minimax eta (smallest worst error ratio): inner-product 1;" in text


def test_the_default_row_stands_for_its_eta_only_where_no_sweep_row_has_it():
    (convex, _) = _results()
    convex["methods"] = [m for m in convex["methods"] if m["method"] != "eta-8"]
    convex["methods"][0] = _row("adaptive", 1.1, 120)
    rows = target.sweep([convex], default_eta=8.0)["rows"]
    (eight,) = [r for r in rows if r["eta"] == 8.0]
    assert eight["error"] == 1.1
    rows = target.sweep([convex], default_eta=16.0)["rows"]  # eta-16 present: it wins
    assert [r["error"] for r in rows if r["eta"] == 16.0] == [0.9]


def test_main_writes_the_tables_and_json_and_names_a_bad_file(tmp_path, capsys):
    paths = []
    for result in _results():
        paths.append(tmp_path / f"{result['name']}.json")
        paths[-1].write_text(json.dumps(result))
    out = tmp_path / "res" / "adaptive"
    assert target.main([*map(str, paths), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.with_suffix(".md").read_text() == printed
    saved = json.loads(out.with_suffix(".json").read_text())
    assert [c["problem"] for c in saved["target"]] == ["convex", "nonconvex"]
    assert saved["eta_sweep"]["minimax_eta_error"] == 8.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "bad", "methods": [_row("rho-1.1", 1.0, 3, rho=1.1)]}))
    assert target.main([str(bad)]) == 2
    assert f"{bad}" in capsys.readouterr().err


def test_the_committed_target_tables_are_what_the_script_prints(tmp_path, capsys):
    """bench/results/adaptive.md is adaptive_target.py's output on the committed results of
    every adaptive definition and the committed theory check (a stale table, e.g. after a
    change of the default, fails here: rerun the last command of make bench-adaptive)."""
    results_dir = ROOT / "bench" / "results"
    saved = json.loads((results_dir / "adaptive.json").read_text())
    names = [c["problem"] for c in saved["target"]]
    assert sorted(names) == sorted(p.stem for p in ADAPTIVE)
    out = tmp_path / "adaptive"
    theory = results_dir / "adaptive_theory.json"
    paths = [str(results_dir / f"{n}.json") for n in names]
    assert target.main([*paths, "--theory", str(theory), "--out", str(out)]) == 0
    assert out.with_suffix(".md").read_text() == (results_dir / "adaptive.md").read_text()
    assert json.loads(out.with_suffix(".json").read_text()) == saved
    capsys.readouterr()


@pytest.mark.parametrize("path", ADAPTIVE, ids=lambda p: p.name)
def test_analyse_only_without_logs_or_results_names_make_bench_adaptive(path, tmp_path):
    results = ROOT / "bench" / "results" / f"{path.stem}.json"
    cmd = [sys.executable, "-m", "bench", "experiment", str(path), "--analyse-only"]
    cmd += ["--out-dir", str(tmp_path / "out"), "--results-dir", str(tmp_path / "results")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "run `make bench-adaptive` first" in done.stderr
    if results.exists():  # committed results stand in for the logs
        (tmp_path / "results").mkdir()
        shutil.copy2(results, tmp_path / "results" / results.name)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        # results that keep their curves redraw the figure too
        assert f"{path.stem}: tables and figures redrawn from the committed" in done.stderr
        assert (tmp_path / "results" / f"{path.stem}.png").is_file()
