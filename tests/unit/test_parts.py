"""Registered parts: the observing-schedule interface (a test double), flags of unselected
parts, ``--help`` grouped by owner, and the registry's own checks."""

from __future__ import annotations

import numpy as np
import pytest

from crpsgd.algorithms.parallel_sgd import parallel_sgd
from crpsgd.cli.app import main
from crpsgd.comm.communicator import Communicator
from crpsgd.data.rng import worker_rng
from crpsgd.data.synthetic import parse_synthetic_spec, synthetic_rows
from crpsgd.errors import UsageError
from crpsgd.params import Param
from crpsgd.problems.logreg import LogisticRegression
from crpsgd.registry import parts
from crpsgd.registry.config import merge
from crpsgd.schedules.schedule import ConstantBatch, LocalStats, RoundStats, Schedule


@pytest.fixture(scope="module")
def comm():
    return Communicator()


class RecordingSchedule(Schedule):
    """Test double: B_t = t + 1, one extra slot with ||g_i||^2, and a record of what it saw
    and of the communicator's round count at each call."""

    extra_slots = 1

    def __init__(self, comm: Communicator) -> None:
        self.comm = comm
        self.filled: list[tuple[int, int, np.ndarray]] = []
        self.observed: list[tuple[int, int, np.ndarray, np.ndarray, int]] = []

    def batch(self, t: int) -> int:
        return t + 1

    def fill_slots(self, view: np.ndarray, local: LocalStats) -> None:
        view[0] = float(local.grad @ local.grad)
        self.filled.append((local.t, self.comm.stats.rounds, local.grad.copy()))

    def observe(self, t: int, stats: RoundStats) -> None:
        self.observed.append(
            (t, self.comm.stats.rounds, stats.grad.copy(), stats.slots.copy(), stats.batch)
        )


def test_an_observing_schedule_sees_the_round_after_its_allreduce(comm):
    data = synthetic_rows(parse_synthetic_spec("synthetic:n=200,d=4,seed=3"), 0, 200)
    problem = LogisticRegression(data, 200, 1e-3)
    sched = RecordingSchedule(comm)
    before = comm.stats.rounds
    result = parallel_sgd(problem, comm, sched, 20, 0.5, np.zeros(4), worker_rng(1, 0), None)
    assert [b for *_, b in sched.observed] == [2, 3, 4, 5, 6]  # 2+...+6 = 20 <= 20 < 20+7
    rng, x = worker_rng(1, 0), np.zeros(4)
    for k, (t, rounds_at_fill, g_local) in enumerate(sched.filled):
        t_obs, rounds_at_observe, g_avg, slots, batch = sched.observed[k]
        assert t == t_obs == k + 1 and batch == t + 1
        assert rounds_at_fill == before + k and rounds_at_observe == before + k + 1
        expected = np.empty(4)  # the plain reference: this rank's minibatch gradient at x_t
        idx = np.sort(rng.integers(0, 200, size=batch, dtype=np.int64))
        problem.stochastic_grad(x, idx, expected)
        np.testing.assert_array_equal(g_local, expected)
        np.testing.assert_array_equal(g_avg, expected)  # one rank: the average is its own
        assert slots[0] == float(expected @ expected)
        x = x - 0.5 * expected
    np.testing.assert_allclose(result.x, x, rtol=1e-14)
    assert comm.stats.rounds - before == 5 and comm.stats.round_bytes > 0


def test_a_pure_schedule_adds_no_slot(comm):
    data = synthetic_rows(parse_synthetic_spec("synthetic:n=50,d=3,seed=1"), 0, 50)
    problem = LogisticRegression(data, 50, 1e-3)
    start = comm.stats.round_bytes
    parallel_sgd(problem, comm, ConstantBatch(5), 10, 0.1, np.zeros(3), worker_rng(0, 0), None)
    assert comm.stats.round_bytes - start == 2 * (3 + 1) * 8  # the vector and the stop slot


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--algo", "psgd", "--rho", "1.3"],
            "--rho belongs to --algo cr-psgd/cr-psgd-catalyst, not --algo psgd",
        ),
        (
            ["--b1", "4", "--algo", "local-sgd"],
            "--b1 belongs to --algo cr-psgd/cr-psgd-catalyst, not --algo local-sgd",
        ),
        (
            ["--batch", "4"],
            "--batch belongs to --algo psgd/local-sgd/post-local-sgd/diloco, not --algo cr-psgd",
        ),
        (["--theta", "1"], "--theta belongs to --algo cr-psgd-catalyst, not --algo cr-psgd"),
        (
            ["--period", "3", "--algo", "psgd"],
            "--period belongs to --algo local-sgd/post-local-sgd/diloco, not --algo psgd",
        ),
        (["--alpha", "2"], "--alpha belongs to --problem logreg-nonconvex, not --problem logreg"),
        (
            ["--hidden", "4", "--problem", "logreg-nonconvex"],
            "--hidden belongs to --problem mlp, not --problem logreg-nonconvex",
        ),
        (
            ["--schedule", "constant", "--rho", "2"],
            "--rho belongs to --schedule exponential, not --schedule constant",
        ),
        (  # Local SGD takes --schedule for its inner batch; the schedule's own flags apply
            ["--algo", "local-sgd", "--schedule", "constant", "--rho", "2"],
            "--rho belongs to --schedule exponential, not --schedule constant",
        ),
    ],
)
def test_a_flag_of_an_unselected_part_is_exit_2(tmp_path, capsys, flags, message):
    out = tmp_path / "r.h5"
    status = main(["run", "--data", "synthetic:n=60,d=3", "--T", "40", *flags, "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("crpsgd: error:") == 1 and message in err, err
    assert not out.exists()


def test_toml_keys_of_unselected_parts_are_accepted(tmp_path, capsys):
    path = tmp_path / "shared.toml"
    path.write_text('algo = "psgd"\nb1 = 2\nrho = 1.5\ntheta = 3.0\nalpha = 2.0\nT = 40\n')
    out = tmp_path / "r.h5"
    args = ["run", "--config", str(path), "--data", "synthetic:n=60,d=3", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(tmp_path / "s.h5"), "--batch", "4"]) == 0  # selected: fine
    capsys.readouterr()
    # programs (the bench runner) pass shared keys as values, not typed flags
    cfg = merge({"algo": "psgd", "rho": "1.3", "theta": "2"}, None)
    assert cfg["rho"] == 1.3 and cfg["theta"] == 2.0
    with pytest.raises(UsageError, match="--rho belongs to --algo"):
        merge({"algo": "psgd", "rho": "1.3"}, None, command_line=True)


def test_a_selected_schedule_takes_its_own_flags(tmp_path, capsys):
    out = tmp_path / "r.h5"
    flags = ["--schedule", "constant", "--batch", "5", "--T", "40", "--quiet"]
    assert main(["run", "--data", "synthetic:n=60,d=3", *flags, "--out", str(out)]) == 0
    capsys.readouterr()
    from crpsgd.runlog import read_run

    assert list(read_run(out).rounds["batch"]) == [5] * 8


def _help_sections(capsys) -> dict[str, str]:
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    sections, title = {}, None
    for line in capsys.readouterr().out.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            title = line[:-1]
            sections[title] = ""
        elif title is not None:
            sections[title] += line + "\n"
    return sections


def test_help_groups_flags_by_owner(capsys):
    sections = _help_sections(capsys)
    where = {
        "--T": "common options",
        "--gamma": "common options",
        "--config": "common options",
        "--schedule": "common options",
        "--lam": "--problem logreg, logreg-nonconvex, mlp",
        "--alpha": "--problem logreg-nonconvex",
        "--hidden": "--problem mlp",
        "--b1": "--algo cr-psgd, cr-psgd-catalyst; --schedule exponential, adaptive",
        "--rho": "--algo cr-psgd, cr-psgd-catalyst; --schedule exponential",
        "--batch": "--algo psgd, local-sgd, post-local-sgd, diloco; --schedule constant",
        "--theta": "--algo cr-psgd-catalyst",
        "--period-rule": "--algo local-sgd, post-local-sgd, diloco",
        "--eta": "--schedule adaptive",
        "--noise-source": "--schedule adaptive",
    }
    for flag, title in where.items():
        holding = [t for t, text in sections.items() if f"  {flag} " in text]
        assert holding == [title], (flag, holding)
    b1_group = sections[where["--b1"]]
    assert "--b1" in b1_group and "cr-psgd:" not in b1_group
    common = " ".join(sections["common options"].split())
    out_help = common[common.index("--out OUT") : common.index("--overwrite")]
    ckpt_help = common[common.index("--checkpoint CHECKPOINT") : common.index("--check-sync")]
    assert out_help == "--out OUT HDF5 run log [default: runs/<algo>-N<ranks>-seed<seed>.h5] "
    assert "default: none" not in ckpt_help and "[default: <out stem>.ckpt.h5" in ckpt_help


def test_the_registry_rejects_duplicates_and_conflicting_params():
    with pytest.raises(ValueError, match="--problem logreg is registered twice"):
        parts.register_problem(parts.problem("logreg"))
    clash = parts.ProblemPart(
        name="clash", help="", build=lambda ctx: None, params=(Param("lam", float, 1.0, "other"),)
    )
    with pytest.raises(ValueError, match="parameter --lam differs"):
        parts.register_problem(clash)
    assert "clash" not in parts.names("problem")
    with pytest.raises(UsageError, match="--algo='nope': must be one of cr-psgd, psgd"):
        parts.algorithm("nope")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"algo": "diloco", "optimizer": "adam"}, "DiLoCo's local steps use --inner-optimizer"),
        (
            {"algo": "diloco", "schedule": "adaptive"},
            "--schedule",
        ),
        (
            {"algo": "local-sgd", "schedule": "adaptive", "adaptive_test": "inner-product"},
            "--algo local-sgd takes --schedule adaptive with the norm test only",
        ),
        (
            {"algo": "post-local-sgd", "local_optimizer": "sgd", "optimizer": "adam"},
            "--optimizer=adam: with --local-optimizer=sgd the local steps are the local",
        ),
    ],
)
def test_each_algorithm_part_owns_its_refusals(values, message):
    """DiLoCo's part refuses --optimizer (its inner steps have --inner-optimizer) and an
    adaptive inner batch; Local SGD's takes the adaptive schedule's norm test only: each
    refusal lives in the part that has the reason, none branches on another's name."""
    with pytest.raises(UsageError, match=message):
        merge({"problem": "torch", "gamma": "0.1", **values}, None)
    if values["algo"] == "diloco" and "optimizer" in values:
        merge({"problem": "torch", "gamma": "0.1", "algo": "psgd", "optimizer": "adam"}, None)
