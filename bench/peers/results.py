"""Results of ``python -m bench peers``: a crpsgd log in the peers' form, medians over seeds,
ratios against crpsgd, the trajectory check and the markdown table."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

from crpsgd.runlog import read_run  # noqa: E402

NAMES = {
    "crpsgd": "crpsgd",
    "mpi-scipy": "mpi4py + SciPy",
    "torch": "PyTorch all_reduce (gloo)",
    "ddp": "PyTorch DDP (gloo)",
    "horovod": "Horovod (PyTorch)",
}


def crpsgd_metrics(path: Path) -> dict:
    """Round durations, their compute/communication parts and the evaluations of a log."""
    run = read_run(path)
    rounds, ev = run.rounds, run.eval
    wall = np.asarray(rounds["wall_s"])
    # a round starts where the previous round (or the evaluation after it) ended
    end_of = {0: 0.0}
    for r, w in zip(ev["round"], ev["wall_s"], strict=True):
        end_of[int(r)] = float(w)
    starts = [
        max(end_of.get(t - 1, 0.0), wall[t - 2] if t > 1 else 0.0) for t in range(1, len(wall) + 1)
    ]
    durations = wall - np.asarray(starts)
    # the log is flushed to disk right after each evaluation, inside the next round's wall
    # clock: rounds that follow an evaluation are left out of the median round
    after_eval = np.array([(t - 1) in end_of for t in range(1, len(wall) + 1)])
    eval_before = np.cumsum(ev["eval_s"])
    evals = [
        {
            "sfo_per_worker": int(s),
            "loop_s": float(w - e),
            "f_minus_fstar": float(f),
        }
        for s, w, e, f in zip(
            ev["sfo_per_worker"], ev["wall_s"], eval_before, ev["suboptimality"], strict=True
        )
    ]
    return {
        "implementation": "crpsgd",
        "rounds": int(wall.size),
        "round_s": durations.tolist(),
        "steady_round_s": durations[~after_eval].tolist(),
        "compute_s": np.asarray(rounds["compute_s"]).tolist(),
        "comm_s": np.asarray(rounds["comm_s"]).tolist(),
        "evals": evals,
        "f_star": run.attrs.get("f_star"),
        "step_size": run.attrs.get("step_size"),
    }


def summarise(result: dict, target: float) -> dict:
    """Medians of one run's rounds, its time to target and its final ``f - f*``."""
    reached = next((e["loop_s"] for e in result["evals"] if e["f_minus_fstar"] <= target), None)
    return {
        "rounds": result["rounds"],
        "round_s": statistics.median(result.get("steady_round_s") or result["round_s"]),
        "compute_s": statistics.median(result["compute_s"]),
        "comm_s": statistics.median(result["comm_s"]),
        "loop_s": float(np.sum(result["round_s"])),
        "first_round_s": result["round_s"][0] if result["round_s"] else None,
        "time_to_target_s": reached,
        "final_f_minus_fstar": result["evals"][-1]["f_minus_fstar"],
    }


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def aggregate(per_seed: dict[str, list[dict]], seeds: int) -> dict[str, dict]:
    """Per implementation: medians over seeds, ratios against crpsgd, the trajectory check."""
    base = per_seed["crpsgd"]
    lo = min(s["final_f_minus_fstar"] for s in base)
    hi = max(s["final_f_minus_fstar"] for s in base)
    slack = 1e-6 * max(abs(lo), abs(hi)) + 1e-12
    out = {}
    for impl, runs in per_seed.items():
        reached = [s["time_to_target_s"] for s in runs]
        row = {
            "rounds": runs[0]["rounds"],
            "round_s": _median([s["round_s"] for s in runs]),
            "compute_s": _median([s["compute_s"] for s in runs]),
            "comm_s": _median([s["comm_s"] for s in runs]),
            "time_to_target_s": _median(reached) if all(r is not None for r in reached) else None,
            "target_reached": sum(r is not None for r in reached),
            "final_f_minus_fstar": _median([s["final_f_minus_fstar"] for s in runs]),
            "final_min": min(s["final_f_minus_fstar"] for s in runs),
            "final_max": max(s["final_f_minus_fstar"] for s in runs),
            "seeds": seeds,
        }
        row["same_trajectory"] = bool(lo - slack <= row["final_f_minus_fstar"] <= hi + slack)
        row["max_final_difference_same_seed"] = max(
            abs(a["final_f_minus_fstar"] - b["final_f_minus_fstar"])
            for a, b in zip(runs, base, strict=True)
        )
        out[impl] = row
    ref = out["crpsgd"]
    for row in out.values():
        row["round_ratio"] = row["round_s"] / ref["round_s"]
        both = row["time_to_target_s"] is not None and ref["time_to_target_s"] is not None
        row["target_ratio"] = row["time_to_target_s"] / ref["time_to_target_s"] if both else None
    return out


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.1f}"


def markdown(report: dict) -> str:
    """The README table."""
    lines = [
        f"`{report['command']}`: N = {report['np']} ranks, T = {report['T']} SFO per worker "
        "(unless the configuration names its own), "
        f"seeds {report['seeds']}, target f - f* <= {report['target']:g}, "
        f"step size {report['step_size']:.4g} for all; every implementation started by "
        f"`{report.get('launcher', 'mpiexec')}`.",
        "",
        "| configuration | T | implementation | rounds | µs/round | compute µs | comm µs "
        "| x crpsgd | s to target | x crpsgd | final f - f* | same trajectory |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for cfg in report["configs"]:
        budget = cfg.get("T", report["T"])
        for impl, row in cfg["rows"].items():
            tt = row["time_to_target_s"]
            ratio = row["target_ratio"]
            lines.append(
                f"| {cfg['label']} | {budget} | {NAMES[impl]} | {row['rounds']} | "
                f"{_us(row['round_s'])} | "
                f"{_us(row['compute_s'])} | {_us(row['comm_s'])} | {row['round_ratio']:.2f} | "
                f"{'not reached' if tt is None else f'{tt:.3g}'} | "
                f"{'-' if ratio is None else f'{ratio:.2f}'} | "
                f"{row['final_f_minus_fstar']:.3e} | {'yes' if row['same_trajectory'] else 'NO'} |"
            )
    lines += ["", *[f"- {note}" for note in report["notes"]]]
    return "\n".join(lines) + "\n"
