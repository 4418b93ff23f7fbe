"""The fair protocol's table (``python -m bench fair-table``) on tiny synthetic results, no
training: the target, rounds and epochs to it, medians and ranges over seeds, the projected
wall time to the target (``crpsgd project``'s model on the rounds up to it), the markdown and
the figure; and both definitions load with their methods and grid."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.fair_rows import (
    CLUSTERS,
    NODES,
    POINT,
    Curve,
    first_reach,
    profile_until,
    projected_to_target,
    table_rows,
)
from bench.fair_table import drawn, figure, markdown
from bench.runner import definition
from crpsgd.analysis.network import PRESETS, allreduce_seconds
from crpsgd.analysis.projection_profile import RunProfile
from tests.conftest import ROOT


def profile(batches, steps, samples=None, fixed=0.01, per_sample=0.001, other=0.5):
    batches = np.asarray(batches, dtype=np.int64)
    return RunProfile(
        label="p",
        n_workers=4,
        batches=batches,
        local_steps=np.asarray(steps, dtype=np.int64),
        compute_s=1.0,
        comm_s=0.1,
        other_s=other,
        buffer_bytes=4000,
        fixed_s=fixed,
        seconds_per_sample=per_sample,
        samples=None if samples is None else np.asarray(samples, dtype=np.int64),
    )


def curve(acc, rounds=None, label="m(gamma=0.1)", prof=None, seconds=(3.0, 1.0, 0.5)):
    acc = np.asarray(acc, dtype=np.float64)
    rounds = np.arange(acc.size) * 10 if rounds is None else np.asarray(rounds)
    return Curve(
        label=label,
        rounds=rounds,
        epochs=np.arange(acc.size) * 0.5,
        accuracy=acc,
        total_rounds=int(rounds[-1]),
        total_epochs=float((acc.size - 1) * 0.5),
        compute_s=seconds[0],
        comm_s=seconds[1],
        eval_s=seconds[2],
        profile=prof,
    )


def test_target_rounds_to_target_and_ranges():
    methods = {
        # best median final accuracy 0.80 -> target 0.79
        "a": [
            curve([0.1, 0.5, 0.79, 0.80]),
            curve([0.1, 0.6, 0.7, 0.80]),
            curve([0.2, 0.8, 0.8, 0.9]),
        ],
        "b": [curve([0.1, 0.3, 0.5, 0.6]), curve([0.1, 0.79, 0.6, 0.7])],
    }
    target, rows = table_rows(methods)
    assert target == pytest.approx(0.80 - POINT)
    a, b = rows  # best first
    assert (a["method"], b["method"]) == ("a", "b")
    assert (a["acc_median"], a["acc_min"], a["acc_max"]) == (0.80, 0.80, 0.9)
    # first reach: rounds 20, 30, 10 -> median 20; epochs 1.0, 1.5, 0.5 -> 1.0
    assert a["reached"] == 3 and a["rounds_to_target"] == 20 and a["epochs_to_target"] == 1.0
    # b reaches the target once (a one-point touch counts: the first evaluation at or above)
    assert b["reached"] == 1 and b["rounds_to_target"] == 10
    assert b["acc_median"] == pytest.approx(0.65) and b["acc_min"] == 0.6
    assert a["compute_s"] == 3.0 and a["comm_s"] == 1.0 and a["eval_s"] == 0.5
    assert first_reach(curve([0.1, 0.2]), 0.5) is None


def test_never_reaching_leaves_the_columns_empty():
    methods = {"good": [curve([0.5, 0.9])], "bad": [curve([0.1, 0.2])]}
    _, rows = table_rows(methods)
    bad = rows[1]
    assert bad["reached"] == 0 and bad["rounds_to_target"] is None
    for column, _ in CLUSTERS:
        assert math.isnan(bad[f"projected_s {column}"])
    text = markdown(0.89, rows, "title")
    assert "| bad: m(gamma=0.1) | 1 | 0.2000 [0.2000, 0.2000] | - (0/1) | - |" in text


def test_projection_to_target_counts_the_rounds_up_to_it():
    prof = profile([2, 4, 8, 16], [3, 3, 3, 3], samples=[7, 13, 30, 55])
    first = profile_until(prof, 2)
    assert list(first.batches) == [2, 4] and list(first.samples) == [7, 13]
    assert first.other_s == pytest.approx(0.25)
    for preset in ("10gbe", "ib-hdr"):
        seconds = projected_to_target(prof, 2, preset)
        comm = 2 * allreduce_seconds(NODES, 4000, PRESETS[preset], "mpich")
        assert seconds == pytest.approx(2 * 0.01 + 0.001 * (7 + 13) + comm + 0.25)
    assert math.isnan(projected_to_target(prof, None, "10gbe"))
    # a slower network takes longer for the same rounds
    assert projected_to_target(prof, 4, "10gbe") > projected_to_target(prof, 4, "ib-hdr")
    # rows use each seed's own first reach
    methods = {"m": [curve([0.1, 0.95], rounds=[0, 2], prof=prof)]}
    _, (row,) = table_rows(methods)
    assert row["projected_s 10 GbE"] == pytest.approx(projected_to_target(prof, 2, "10gbe"))


def test_figure_has_both_axes_and_labels(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = {"a": [curve([0.1, 0.5, 0.8], label="local-sgd(b=16,H=4,gamma=0.05)")]}
    path = tmp_path / "fig.png"
    seen = {}
    real_savefig = plt.Figure.savefig

    def keep(fig, *args, **kwargs):
        seen["axes"], seen["legends"] = fig.axes, fig.legends
        return real_savefig(fig, *args, **kwargs)

    plt.Figure.savefig = keep
    try:
        figure(drawn(methods), path, "t")
    finally:
        plt.Figure.savefig = real_savefig
    assert path.stat().st_size > 0
    by_epochs, by_rounds = seen["axes"]
    assert by_rounds.get_xscale() == "log" and by_epochs.get_xscale() == "linear"
    (legend,) = seen["legends"]  # one legend below both panels, off the curves
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["a: local-sgd(b=16,H=4,gamma=0.05)"]
    # round 0 (the start) is not drawn on the log axis
    assert list(by_rounds.lines[0].get_xdata()) == [10, 20]


@pytest.mark.parametrize("name", ["fair_dl.toml", "fair_dl_cifar10.toml"])
def test_definitions_load_with_the_protocol(name):
    spec = definition.load(ROOT / "bench" / name)
    methods = {m["name"]: m for m in spec["method"]}
    assert set(methods) == {
        "psgd-small",
        "psgd-large",
        "cr-psgd",
        "cr-psgd-adaptive",
        "cr-psgd-scaled",
        "local-sgd",
        "post-local-sgd",
        "local-sgd-momentum",
        "post-local-sgd-momentum",
        "diloco",
        "diloco-growing",
    }
    run = spec["run"]
    # the same recipe for all: momentum 0.9, weight decay 5e-4, a linear warm-up
    assert run["momentum"] == 0.9 and run["weight_decay"] == 5e-4 and run["warmup"] > 0
    assert len(spec["grid"]["gamma"]) >= 3 and len(spec["grid"]["seeds"]) >= 3
    assert isinstance(methods["cr-psgd"]["rho"], list) and isinstance(
        methods["cr-psgd"]["b1"], list
    )
    for m in ("local-sgd", "local-sgd-momentum", "diloco", "diloco-growing"):
        assert isinstance(methods[m]["period"], list)
    assert isinstance(methods["diloco"]["outer_lr"], list)
    assert isinstance(methods["diloco"]["outer_momentum"], list)
    assert methods["cr-psgd-scaled"]["lr_scaling"] == ["sqrt", "linear"]
    for m in ("local-sgd-momentum", "post-local-sgd-momentum"):
        assert methods[m]["local_optimizer"] == "sgd"
    assert methods["diloco-growing"]["schedule"] == "exponential"
    quick = definition.load(ROOT / "bench" / name, quick=True)
    assert all(not isinstance(v, list) or len(v) == 1 for m in quick["method"] for v in m.values())


def test_table_without_logs_says_which_command_makes_them(tmp_path, capsys):
    from bench.fair_table import main

    status = main(
        [
            str(ROOT / "bench" / "fair_dl.toml"),
            "--out-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "t"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.count("error:") == 1 and "run make bench-fair-dl first" in err
    assert not (tmp_path / "t.md").exists()


def test_tuning_counts_chance_points_and_flags_a_step_size_at_the_grid_edge():
    from bench.fair_tuning import CHANCE, tuning_markdown, tuning_row

    def key(gamma, period):
        return json.dumps({"batch": 16, "gamma_factor": gamma, "period": period})

    scored = [
        (0.25, 40, key(0.1, 4)),
        (0.30, 40, key(0.05, 4)),
        (CHANCE + 1e-9, 10, key(0.1, 16)),
        (math.inf, 10, key(0.05, 16)),
    ]
    row = tuning_row("local-sgd", scored, {}, [0.0125, 0.025, 0.05, 0.1])
    assert row["points"] == 4 and row["chance"] == 2
    # only the axes that vary are named; batch is the same at every point
    assert row["chosen"] == "gamma=0.1, period=4" and row["next"] == "gamma=0.05, period=4"
    assert row["chosen_score"] == 0.25 and row["gamma_edge"] == "largest"
    middle = tuning_row("m", [(1.0, 5, key(0.025, 4))], {}, [0.0125, 0.025, 0.05])
    assert middle["gamma_edge"] == "" and middle["next"] == "-"
    assert middle["chosen"] == "gamma=0.025"  # the step size is named even when fixed
    text = tuning_markdown([row, middle])
    assert (
        "| local-sgd | 4 | 2 | gamma=0.1, period=4 | 0.2500 | gamma=0.05, period=4 | 0.3000 |"
        in text
    )
    assert text.rstrip().endswith("| m | 1 | 0 | gamma=0.025 | 1.0000 | - | - | - |")


def test_the_table_and_figure_are_redrawn_from_the_kept_json(tmp_path, capsys):
    from bench.fair_table import _plain, main

    methods = {"good": [curve([0.5, 0.9])], "bad": [curve([0.1, 0.2])]}
    target, rows = table_rows(methods)
    kept = {
        "title": "t",
        "command": "make x",
        "target": target,
        "rows": rows,
        "curves": drawn(methods),
    }
    kept["tuning"] = []
    stem = tmp_path / "fair"
    stem.with_suffix(".json").write_text(json.dumps(_plain(kept)))
    definition_path = str(ROOT / "bench" / "fair_dl.toml")
    assert main([definition_path, "--redraw", "--out", str(stem)]) == 0
    text = stem.with_suffix(".md").read_text()
    assert text.startswith("Command: `make x`") and markdown(target, rows, "t") in text
    assert "### Tuning" in text and stem.with_suffix(".png").stat().st_size > 0
    # NaN (never reached) is kept as null: strict JSON
    assert "NaN" not in stem.with_suffix(".json").read_text()
    capsys.readouterr()
    assert main([definition_path, "--redraw", "--out", str(tmp_path / "none")]) == 2
    assert "no " in capsys.readouterr().err
