"""A user's own loop with ``GrowingBatchSampler`` and ``GradientAverager`` under ``mpiexec
-n 2`` (tests/torch_loop_script.py): the same parameters as ``crpsgd.torch.train()`` bit
for bit (plain step, SGD with momentum and weight decay, the adaptive schedule, batches
split into micro-batches), the averaged gradient against the ranks' own, and bad input
refused by name on every rank."""

import math
import re
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from tests.conftest import run_mpi  # noqa: E402
from tests.torch_loop_script import CASES, net  # noqa: E402

pytestmark = pytest.mark.mpi


def _run(tmp_path, scenario):
    proc = run_mpi(2, ["tests/torch_loop_script.py", scenario, str(tmp_path)], timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return [torch.load(tmp_path / f"{scenario}-rank{r}.pt") for r in range(2)]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("user_loop")
    proc = run_mpi(2, ["tests/torch_loop_script.py", "compare", str(out)], timeout=500)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return {name: [torch.load(out / f"{name}-rank{r}.pt") for r in range(2)] for name in CASES}


@pytest.mark.parametrize("case", list(CASES))
def test_the_documented_loop_gives_train_s_parameters_bit_for_bit(compared, case):
    start = torch.cat([p.detach().reshape(-1) for p in net().parameters()])
    for record in compared[case]:
        assert torch.equal(record["loop"], record["train"])
        assert not torch.equal(record["loop"], start)  # it trained
        assert len(record["batches"]) == record["rounds"]
        assert sum(record["batches"]) == record["sfo"] == record["loop_sfo"]
    assert torch.equal(compared[case][0]["loop"], compared[case][1]["loop"])


def test_the_loop_in_the_documentation_runs_as_written_and_equals_train(tmp_path):
    for record in _run(tmp_path, "documented"):
        rounds, loop_rounds = record["rounds"]
        assert rounds == loop_rounds > 5 and record["largest"] > 128  # in chunks, too
        assert torch.equal(record["loop"], record["train"])


@pytest.mark.parametrize("case", ["plain", "chunks"])
def test_exponential_batches_within_the_budget(compared, case):
    run = CASES[case][0]
    want, t = [], 1
    while (
        sum(want) + (b := math.floor(Fraction(str(run["rho"])) ** (t - 1) * run["b1"])) <= run["T"]
    ):
        want.append(b)
        t += 1
    assert compared[case][0]["batches"] == want


def test_adaptive_spends_the_whole_budget_and_grows(compared):
    batches = compared["adaptive"][0]["batches"]
    assert sum(batches) == CASES["adaptive"][0]["T"]  # its last round takes what is left
    assert batches[0] == CASES["adaptive"][0]["b1"] < batches[-2]
    assert batches == compared["adaptive"][1]["batches"]


def test_the_averaged_gradient_is_the_mean_of_the_ranks_own(tmp_path):
    a, b = _run(tmp_path, "average")
    assert a["shard"] == (0, 102) and b["shard"] == (102, 203)
    assert not torch.equal(a["own"], b["own"])
    mean = (a["own"] + b["own"]) / 2  # float32, as the Allreduce's sum and division
    assert torch.equal(a["averaged"], mean) and torch.equal(b["averaged"], mean)


def test_a_loop_resumed_from_state_dicts_ends_where_the_whole_loop_does(tmp_path):
    for records in _run(tmp_path, "resume"):
        for name, record in records.items():
            assert 2 < record["stopped_after"] < len(record["batches"]), name
            assert record["resumed_batches"] == record["batches"], name
            assert torch.equal(record["resumed"], record["whole"]), name
        assert records["inner-product"]["arrays"] == ["adaptive_direction"]  # via a tensor
        assert records["norm"]["batches"] != records["inner-product"]["batches"]


def test_a_failure_of_one_rank_in_the_loop_ends_the_job_with_one_message(tmp_path):
    proc = run_mpi(2, ["tests/torch_loop_script.py", "fails", str(tmp_path)], timeout=200)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "returned" not in proc.stdout
    lines = [x for x in proc.stderr.splitlines() if x.startswith("crpsgd: ")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert re.fullmatch(
        r"crpsgd: rank 1: \S*tests/torch_loop_script\.py:\d+: "
        r"RuntimeError: no loss for this batch",
        lines[0],
    ), lines


def test_bad_input_is_refused_by_name_on_every_rank(tmp_path):
    proc = run_mpi(2, ["tests/torch_loop_script.py", "bad", str(tmp_path)], timeout=200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = [(tmp_path / f"bad-rank{r}.txt").read_text().splitlines() for r in range(2)]
    assert lines[0] == lines[1]  # the same message on every rank
    got = dict(line.split(": ", 1) for line in lines[0])
    assert got["rho"].startswith("rho=1.0 (GrowingBatchSampler): must be > 1")
    assert got["b1"].startswith("b1=0 (GrowingBatchSampler): must be >= 1")
    assert got["T"].startswith("T=4 (GrowingBatchSampler): the budget is smaller")
    assert got["unknown"].startswith("batch=: not a keyword of GrowingBatchSampler")
    assert got["schedule"].startswith("schedule='growing': must be one of")
    assert got["empty"] == "data (GrowingBatchSampler): 0 items; needs at least 1"
    assert got["no-parameters"] == "model=ReLU: the model has no parameters"
    assert got["not-a-sampler"].startswith("sampler=list: expected the GrowingBatchSampler")
    assert got["before-a-round"].startswith("GradientAverager.average(): no round was drawn")
    assert got["one-row"] == "2 ranks but only 1 rows in data (GrowingBatchSampler)"
