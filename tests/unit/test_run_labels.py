"""Run labels come from the parts that ran (crpsgd.analysis.labels): schedule and algorithm terms, a
schedule column in ``info``, and data shapes that are the data's."""

from pathlib import Path

from crpsgd.analysis.labels import differing, distinguishing_labels, label
from crpsgd.analysis.report import describe, summary_table
from crpsgd.runlog import RunRecord


def _record(algo, config, attrs=None, stem="x"):
    attrs = {"algorithm": algo, **(attrs or {})}
    return RunRecord(Path(f"{stem}.h5"), attrs, {"algo": algo, **config}, {}, {}, None)


ADAPTIVE = {"schedule": "adaptive", "b1": 16, "rho": 1.2, "eta": 1.0}


def test_an_adaptive_run_is_labelled_by_what_it_used():
    run = _record("cr-psgd", ADAPTIVE)
    assert label(run) == "cr-psgd(adaptive,B1=16,eta=1.0)"
    assert "rho" not in label(run)  # an adaptive run's rho is not used
    psgd = _record("psgd", {"schedule": "adaptive", "b1": 4, "eta": 2.0, "batch": 8})
    assert label(psgd) == "psgd(adaptive,B1=4,eta=2.0)"


def test_default_schedules_keep_their_short_labels():
    assert label(_record("cr-psgd", {"schedule": "auto", "b1": 8, "rho": 1.5})) == (
        "cr-psgd(B1=8,rho=1.5)"
    )
    assert label(_record("psgd", {"batch": 8})) == "psgd(B=8)"
    # a step that follows the batch is named; the constant one is the default and is not
    scaled = {"schedule": "auto", "b1": 8, "rho": 1.03, "lr_scaling": "sqrt"}
    assert label(_record("cr-psgd", scaled)) == "cr-psgd(B1=8,rho=1.03,lr_scaling=sqrt)"
    constant = {**scaled, "lr_scaling": "constant"}
    assert label(_record("cr-psgd", constant)) == "cr-psgd(B1=8,rho=1.03)"
    cat = _record("cr-psgd-catalyst", {"b1": 2, "rho": 1.5}, {"theta": 0.123456})
    assert label(cat) == "cr-psgd-catalyst(B1=2,rho=1.5,theta=0.123)"


def test_a_growing_inner_batch_is_labelled_by_its_schedule():
    grown = {"schedule": "exponential", "b1": 8, "rho": 1.02, "batch": 16, "period": 4}
    assert label(_record("local-sgd", grown)) == "local-sgd(exponential,B1=8,rho=1.02,H=4)"
    outer = {"inner_optimizer": "sgd", "outer_lr": 0.7, "outer_momentum": 0.5}
    diloco = _record("diloco", {**grown, **outer})
    assert label(diloco) == (
        "diloco(exponential,B1=8,rho=1.02,H=4,inner=sgd,outer_lr=0.7,outer_mu=0.5)"
    )
    # without --schedule the constant batch, as before
    plain = {"schedule": "auto", "batch": 16, "period": 4}
    assert label(_record("local-sgd", plain)) == "local-sgd(b=16,H=4)"


def test_a_part_without_a_label_function_is_labelled_by_its_parameters():
    from crpsgd.params import Param
    from crpsgd.registry import parts
    from crpsgd.registry.parts import AlgorithmPart

    parts.load()
    name = "labels-test-algo"
    parts._PARTS["algo"].pop(name, None)
    parts.register_algorithm(
        AlgorithmPart(
            name=name,
            help="test",
            execute=lambda ctx: None,
            params=(Param("labels_test_k", int, 3, "k"),),
        )
    )
    try:
        assert label(_record(name, {"labels_test_k": 5})) == f"{name}(labels_test_k=5)"
    finally:
        parts._PARTS["algo"].pop(name)


def test_info_of_several_runs_has_a_schedule_column_when_it_differs():
    fixed = _record("cr-psgd", {"schedule": "auto", "b1": 16, "rho": 1.2}, stem="fixed")
    adaptive = _record("cr-psgd", ADAPTIVE, stem="adaptive")
    assert "schedule" in differing([fixed, adaptive])
    header = summary_table([fixed, adaptive]).splitlines()[0].split()
    assert "schedule" in header
    # the label already says it: no schedule=... in the legend
    assert all("schedule=" not in s for s in distinguishing_labels([fixed, adaptive]))


def test_info_calls_a_parameter_count_what_it_is():
    run = _record(
        "psgd",
        {"batch": 8},
        {"problem": "torch", "data_shape": [1500, 3, 32, 32], "model_parameters": 1530},
    )
    text = describe(run)
    assert "data_shape       [1500, 3, 32, 32]" in text
    assert "model_parameters 1530" in text


def test_a_legend_with_an_absolute_step_does_not_say_per_l():
    from tests.conftest import bench_module

    target = bench_module("runner.report_target")
    method = {"algo": "cr-psgd"}
    point = {"b1": 16, "rho": 1.1, "gamma": 0.2}
    assert target.describe_point(method, point, "absolute") == "B1=16, rho=1.1, gamma=0.2"
    assert target.describe_point(method, point) == "B1=16, rho=1.1, gamma=0.2x1/L"


def test_the_quick_resnet20_figure_is_named_for_the_digits_stand_in(monkeypatch, tmp_path):
    from tests.conftest import ROOT, bench_module

    definition = bench_module("runner.definition")
    figures = bench_module("runner.figures")
    spec = definition.load(ROOT / "bench" / "resnet20.toml", quick=True)
    (problem,) = definition.problems(spec)
    assert problem["figure_name"] == "digits-standin" and "stand-in" in problem["title"]
    stems = []
    monkeypatch.setattr(figures, "_plot", lambda rows, labels, stem, **kw: stems.append(stem) or 1)
    report = {
        "name": spec["name"],
        "problems": [{**problem, "target": 0.01, "rows": []}],
    }
    figures.draw_target(report, tmp_path)
    assert stems == [tmp_path / "resnet20-quick-digits-standin"]
