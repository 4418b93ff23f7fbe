"""The fair-protocol table and figures (``bench/fair_dl.toml``) from the experiment's logs.

    python -m bench fair-table bench/fair_dl.toml [--quick] [--out-dir DIR] --out STEM
    python -m bench fair-table bench/fair_dl.toml --redraw --out STEM   # from STEM.json

For each method the runner's chosen point (best tuning score on the tuning seed; the runner
then ran it on every seed: :func:`runner.select.points_for_all_seeds`) is read on all its
seeds, and :mod:`bench.fair_rows` gives the row: final test accuracy (median, range), rounds
and epochs to the target (the best method's median final accuracy minus one point), the whole
run's rounds and epochs, the seconds split and the projected wall time to the target on 8
nodes of 10 GbE and of InfiniBand (``crpsgd project``'s model). Writes ``<STEM>.md`` and
``<STEM>.png``: test accuracy against epochs and against rounds (log scale), one curve per
method (its first seed), labelled by the method and its tuned parameters; the tuning table
(:mod:`bench.fair_tuning`) follows the main one. ``<STEM>.json`` keeps the rows, the tuning
and the curves drawn, so ``--redraw`` (``make figures``) rewrites the table and the figure
without the logs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from bench.fair_rows import CLUSTERS, NODES, Curve, table_rows
from bench.fair_tuning import tuning_markdown, tuning_row
from bench.runner import definition as d
from bench.runner.rows import ROOT, read_index, rows_from_logs
from bench.runner.select import point_scores


def curve_of(run) -> Curve:
    """A :class:`Curve` of a run log read by :func:`crpsgd.runlog.read_run`."""
    from crpsgd.analysis.labels import label
    from crpsgd.analysis.projection_profile import profile_from_record

    n = int(run.attrs["data_shape"][0])
    ev, s = run.eval, run.summary
    return Curve(
        label=label(run, gamma=True),
        rounds=np.asarray(ev["round"], dtype=np.int64),
        epochs=np.asarray(ev["sfo_total"], dtype=np.float64) / n,
        accuracy=np.asarray(ev["test_accuracy"], dtype=np.float64),
        total_rounds=int(s.get("rounds", 0)),
        total_epochs=float(s.get("sfo_total", 0)) / n,
        compute_s=float(s.get("compute_s", math.nan)),
        comm_s=float(s.get("comm_s", math.nan)),
        eval_s=float(s.get("eval_s", math.nan)),
        profile=profile_from_record(run) if len(run.rounds.get("batch", ())) else None,
    )


def chosen_curves(spec, out_dir: Path) -> tuple[dict[str, list[Curve]], list[dict]]:
    """Each method's chosen point on all the seeds it ran, from ``<out_dir>/index.json``, and
    each method's tuning row."""
    from crpsgd.runlog import read_run

    index = read_index(out_dir / "index.json")
    pdef = d.problems(spec)[0]
    pinfo = index["problems"][""]
    methods: dict[str, list[Curve]] = {}
    tuning = []
    for method in spec["method"]:
        entries = [e for e in pinfo["runs"] if e["method"] == method["name"]]
        rows = [r for r in rows_from_logs(spec, pdef, pinfo, entries) if r["status"] == "completed"]
        scored, by_point = point_scores(rows, d.tune_seeds(spec))
        if not scored:
            continue
        runs = sorted(by_point[scored[0][2]], key=lambda r: r["seed"])
        methods[method["name"]] = [curve_of(read_run(ROOT / r["log"])) for r in runs]
        tuning.append(tuning_row(method["name"], scored, by_point, spec["grid"]["gamma"]))
    return methods, tuning


def _fmt(value, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def markdown(target: float, rows: list[dict], title: str) -> str:
    clusters = " | ".join(f"to target, {c} x{NODES} (s)" for c, _ in CLUSTERS)
    lines = [
        f"## {title}",
        "",
        f"Target: the best method's median final test accuracy minus 1 point = {target:.4f}.",
        "",
        "| method (tuned point) | seeds | test acc median [min, max] | rounds to target "
        "(reached) | epochs to target | rounds | epochs | compute s | comm s | eval s | "
        f"{clusters} |",
        "|" + "---|" * (10 + len(CLUSTERS)),
    ]
    for r in rows:
        projected = " | ".join(_fmt(r[f"projected_s {c}"], ".3g") for c, _ in CLUSTERS)
        lines.append(
            f"| {r['method']}: {r['label']} | {r['seeds']} | {r['acc_median']:.4f} "
            f"[{r['acc_min']:.4f}, {r['acc_max']:.4f}] | {_fmt(r['rounds_to_target'], 'g')} "
            f"({r['reached']}/{r['seeds']}) | {_fmt(r['epochs_to_target'])} | "
            f"{_fmt(r['rounds'], 'g')} | {_fmt(r['epochs'])} | {_fmt(r['compute_s'])} | "
            f"{_fmt(r['comm_s'])} | {_fmt(r['eval_s'])} | {projected} |"
        )
    return "\n".join(lines) + "\n"


def drawn(methods: dict[str, list[Curve]]) -> dict[str, dict]:
    """The curve drawn for each method (its first seed), as plain lists."""
    return {
        name: {
            "label": f"{name}: {curves[0].label}",
            "epochs": curves[0].epochs.tolist(),
            "rounds": curves[0].rounds.tolist(),
            "accuracy": curves[0].accuracy.tolist(),
        }
        for name, curves in methods.items()
    }


def figure(curves: dict[str, dict], path: Path, title: str) -> None:
    """Test accuracy against epochs and against rounds (log x), one curve per method, from
    :func:`drawn`'s curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_epochs, by_rounds) = plt.subplots(1, 2, figsize=(13, 5.5 + 0.2 * len(curves)))
    colours = plt.get_cmap("tab20").colors
    for i, c in enumerate(curves.values()):
        rounds, label = np.asarray(c["rounds"]), c["label"]
        style = {"color": colours[(2 * i) % 20 + (i // 10) % 2], "marker": ".", "label": label}
        style["linestyle"] = ("-", "--", ":")[(i // 5) % 3]
        by_epochs.plot(c["epochs"], c["accuracy"], **style)
        keep = rounds > 0
        by_rounds.plot(rounds[keep], np.asarray(c["accuracy"])[keep], **style)
    by_epochs.set_xlabel("epochs (N SFO / n)")
    by_rounds.set_xlabel("communication rounds")
    by_rounds.set_xscale("log")
    for ax in (by_epochs, by_rounds):
        ax.set_ylabel("test accuracy")
    handles, labels = by_epochs.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04 + 0.026 * ((len(curves) + 1) // 2), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("definition", type=Path)
    ap.add_argument("--quick", action="store_true", help="the definition's [quick] version")
    ap.add_argument("--out-dir", type=Path, help="the logs [default: bench/out/<name>]")
    ap.add_argument("--out", type=Path, required=True, help="path stem of the .md and .png")
    ap.add_argument(
        "--redraw", action="store_true", help="rewrite the .md and .png from <STEM>.json"
    )
    args = ap.parse_args(argv)
    try:
        spec = d.load(args.definition, args.quick)
    except d.DefinitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.redraw:
        return redraw(args.out)
    out_dir = (args.out_dir or ROOT / "bench" / "out" / spec["name"]).resolve()
    if not (out_dir / "index.json").exists():
        print(f"error: no {out_dir / 'index.json'}: run {spec['command']} first", file=sys.stderr)
        return 2
    methods, tuning = chosen_curves(spec, out_dir)
    if not methods:
        print(f"error: no completed run under {out_dir}", file=sys.stderr)
        return 2
    target, rows = table_rows(methods)
    kept = {
        "title": spec.get("title", spec["name"]),
        "command": spec.get("command", ""),
        "target": target,
        "rows": rows,
        "tuning": tuning,
        "curves": drawn(methods),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(_plain(kept), indent=1) + "\n")
    return write(kept, args.out)


def _plain(value):
    """``value`` as strict JSON: NumPy numbers as Python's, NaN and infinities as null."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def write(kept: dict, stem: Path) -> int:
    """The .md (main table, then the tuning table) and the .png of what ``kept`` holds."""
    rows = [{k: math.nan if v is None else v for k, v in r.items()} for r in kept["rows"]]
    text = markdown(kept["target"], rows, kept["title"])
    text = f"Command: `{kept['command']}`\n\n{text}\n{tuning_markdown(kept['tuning'])}"
    stem.with_suffix(".md").write_text(text)
    figure(kept["curves"], stem.with_suffix(".png"), kept["title"])
    print(text, end="")
    return 0


def redraw(stem: Path) -> int:
    path = stem.with_suffix(".json")
    if not path.exists():
        print(f"error: no {path}: run make bench-fair-dl first", file=sys.stderr)
        return 2
    return write(json.loads(path.read_text()), stem)


if __name__ == "__main__":
    raise SystemExit(main())
