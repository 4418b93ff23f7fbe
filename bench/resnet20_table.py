"""The table and figures of ``make bench-resnet20`` from its logs (no runs).

    python -m bench resnet20-table bench/out/resnet20-quick --out bench/results/resnet20-quick

One row per log under the directory (``<problem>/<method>/<point>-seed<s>.h5``): final test
accuracy and test loss, final training loss (on the log's ``eval_rows`` subset), rounds,
SFO per worker (and in epochs: ``N * SFO / n``), and the wall-clock split into compute,
communication (the rounds' Allreduce) and evaluation seconds (rank 0). Writes
``<out>.md`` (the table, headed by the data note of the logs: which data they ran on) and
``<out>.png`` (test accuracy and training loss against epochs and against rounds).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from crpsgd.runlog import read_run  # noqa: E402

HEADER = (
    "| method | test acc | test loss | train loss | rounds | SFO/worker | epochs "
    "| wall s | compute s | comm s | eval s |"
)


def rows(log_dir: Path) -> list[dict]:
    """One dict per completed or stopped log, in method order of the directory names."""
    out = []
    for path in sorted(log_dir.rglob("*.h5")):
        run = read_run(path)
        s = run.summary
        if not s:  # a run still going, or stopped: its numbers are not final
            print(f"{path}: no result yet ({run.status_text()}); left out", file=sys.stderr)
            continue
        n = int(run.attrs["data_shape"][0])
        out.append(
            {
                "method": path.parent.name,
                "run": run,
                "test_accuracy": float(s.get("test_accuracy", np.nan)),
                "test_loss": float(s.get("test_loss", np.nan)),
                "train_loss": float(s.get("objective", np.nan)),
                "rounds": int(s.get("rounds", 0)),
                "sfo": int(s.get("sfo_per_worker", 0)),
                "epochs": int(s.get("sfo_total", 0)) / n,
                "wall_s": float(s.get("wall_s", np.nan)),
                "compute_s": float(s.get("compute_s", np.nan)),
                "comm_s": float(s.get("comm_s", np.nan)),
                "eval_s": float(s.get("eval_s", np.nan)),
                "status": run.status,
            }
        )
    return out


def table(found: list[dict]) -> str:
    notes = sorted({str(r["run"].attrs.get("data_note", "")) for r in found} - {""})
    lines = [f"Data: {'; '.join(notes) or 'see the logs'}", "", HEADER, "|" + "---|" * 11]
    for r in found:
        lines.append(
            f"| {r['method']} | {r['test_accuracy']:.4f} | {r['test_loss']:.4f} | "
            f"{r['train_loss']:.4f} | {r['rounds']} | {r['sfo']} | {r['epochs']:.1f} | "
            f"{r['wall_s']:.1f} | {r['compute_s']:.1f} | {r['comm_s']:.1f} | {r['eval_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def figure(found: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), squeeze=False)
    for r in found:
        ev, n = r["run"].eval, int(r["run"].attrs["data_shape"][0])
        epochs = np.asarray(ev["sfo_total"], float) / n
        rounds = np.asarray(ev["round"], float)
        for row, metric in enumerate(("test_accuracy", "objective")):
            y = np.asarray(ev[metric], float)
            axes[row][0].plot(epochs, y, marker=".", label=r["method"])
            keep = rounds > 0
            axes[row][1].plot(rounds[keep], y[keep], marker=".", label=r["method"])
    for row, name in enumerate(("test accuracy", "training loss (eval subset)")):
        axes[row][0].set_ylabel(name)
        axes[row][0].set_xlabel("epochs (N SFO / n)")
        axes[row][1].set_xlabel("communication rounds")
        axes[row][1].set_xscale("log")
    axes[0][0].legend(fontsize=8)
    notes = sorted({str(r["run"].attrs.get("data_note", "")).split(":")[0] for r in found})
    fig.suptitle("ResNet20, N = 8; data: " + "; ".join(n for n in notes if n))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log_dir", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="path stem of the .md and .png")
    args = ap.parse_args(argv)
    found = rows(args.log_dir)
    if not found:
        print(f"error: no run logs under {args.log_dir} (run make bench-resnet20)", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = "Command: `make bench-resnet20`\n\n" + table(found)
    args.out.with_suffix(".md").write_text(text)
    figure(found, args.out.with_suffix(".png"))
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
