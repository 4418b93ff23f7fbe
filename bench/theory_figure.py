"""The figure of python -m bench theory: one panel per check (rounds against T, f - f* against N T,
speedup at fixed T, and Catalyst's ||grad f||^2 against N T when it ran), with the fitted
slopes and the theory's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def draw(res: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    panels = 4 if "catalyst_grad_vs_NT" in res else 3
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6))
    r = res["rounds_vs_T"]
    ax = axes[0]
    ax.semilogx(r["T"], r["rounds"], "o", label="measured")
    tt = np.geomspace(min(r["T"]), max(r["T"]), 50)
    ax.semilogx(tt, r["a"] + r["b"] * np.log(tt), "-", label=f"fit b={r['b']:.2f}")
    ax.semilogx(
        tt,
        r["a"] + r["b_theory"] * (np.log(tt) - np.log(tt[0])) + r["b"] * np.log(tt[0]),
        "--",
        label=f"slope 1/ln rho={r['b_theory']:.2f}",
    )
    ax.set(xlabel="T (SFO per worker)", ylabel="rounds", title="1. rounds vs T")
    ax.legend(fontsize=7)
    ax = axes[1]
    for n in sorted({p["N"] for p in res["points"]}):
        sel = [p for p in res["points"] if p["N"] == n]
        ax.loglog(
            [p["N"] * p["T"] for p in sel], [p["suboptimality"] for p in sel], ".", label=f"N={n}"
        )
    f = res["subopt_vs_NT"]
    xs = np.array(sorted(f["x"]))
    c = np.exp(np.mean(np.log(f["y_median"]) - f["slope"] * np.log(f["x"])))
    ax.loglog(xs, c * xs ** f["slope"], "k-", label=f"fit {f['slope']:.2f}")
    ax.loglog(xs, c * xs[0] ** (f["slope"] + 1) * xs**-1.0, "k--", label="slope -1")
    ax.set(xlabel="N T", ylabel="f - f*", title="2. suboptimality vs NT")
    ax.legend(fontsize=6)
    ax = axes[2]
    for s in res["speedup"]:
        order = np.argsort(s["x"])
        ax.loglog(
            np.array(s["x"])[order], np.array(s["y_median"])[order], "o-", label=f"T={s['T']}"
        )
    ax.set(xlabel="N", ylabel="median f - f*", title="4. speedup at fixed T")
    ax.legend(fontsize=6)
    if panels == 4:
        ax = axes[3]
        cpts = res["catalyst_points"]
        ax.loglog([p["N"] * p["T"] for p in cpts], [p["grad_norm_sq"] for p in cpts], ".")
        g = res["catalyst_grad_vs_NT"]
        xs = np.array(sorted(g["x"]))
        c = np.exp(np.mean(np.log(g["y_median"]) - g["slope"] * np.log(g["x"])))
        ax.loglog(xs, c * xs ** g["slope"], "k-", label=f"fit {g['slope']:.2f}")
        ax.set(xlabel="N T", ylabel="||grad f||^2", title="3. Catalyst")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
