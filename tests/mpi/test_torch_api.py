"""``crpsgd.torch.train`` under ``mpiexec -n 2`` (tests/torch_api_script.py): a user's
TensorDataset regression, a 4-class Dataset of 16x16 one-channel images, AdamW, the
``<out stem>.pt`` state_dict, and bad input refused on every rank by name."""

import math
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.analysis.report import describe  # noqa: E402
from crpsgd.errors import UsageError  # noqa: E402
from crpsgd.runlog import read_run  # noqa: E402
from crpsgd.torch.data import ObjectData  # noqa: E402
from crpsgd.torch.keywords import check_keywords  # noqa: E402
from tests.conftest import run_mpi  # noqa: E402
from tests.torch_api_script import Quadrants, regression_data, small_cnn  # noqa: E402

pytestmark = pytest.mark.mpi


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("torch_api")
    proc = run_mpi(2, ["tests/torch_api_script.py", "runs", str(out)], timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out


def _ranks(out, name):
    a, b = (np.load(out / f"{name}-rank{r}.npz") for r in range(2))
    np.testing.assert_array_equal(a["params"], b["params"])  # one model on every rank
    np.testing.assert_array_equal(a["figures"], b["figures"])
    return a


def test_a_tensor_dataset_regression_with_mse(runs):
    result, run = _ranks(runs, "regression"), read_run(runs / "regression.h5")
    assert run.attrs["data_kind"] == "python" and tuple(run.attrs["data_shape"]) == (200, 3)
    objective, accuracy, test_loss = result["figures"]
    assert math.isnan(accuracy)  # float targets: no accuracy, not a count of equal floats
    assert objective == run.summary["objective"] and test_loss == run.summary["test_loss"]
    assert run.eval["objective"][-1] < run.eval["objective"][0] / 4  # MSE, and it learns
    x, y = regression_data().tensors
    model = torch.nn.Linear(3, 1)
    model.load_state_dict(torch.load(runs / "regression.pt"))
    with torch.no_grad():
        mse = float(torch.nn.functional.mse_loss(model(x[:50]), y[:50]))
    assert mse == pytest.approx(test_loss, rel=1e-5)


def test_four_classes_of_16x16_images_and_the_state_dict_reloads(runs):
    result, run = _ranks(runs, "plain"), read_run(runs / "plain.h5")
    assert tuple(run.attrs["data_shape"]) == (160, 1, 16, 16)
    assert "optimizer" not in run.attrs  # the paper's plain step
    _, accuracy, test_loss = result["figures"]
    assert accuracy == run.summary["test_accuracy"] > 0.5  # 4 classes: chance is 0.25
    state = torch.load(runs / "plain.pt")
    assert "1.running_mean" in state and "1.num_batches_tracked" in state  # BatchNorm's
    model = small_cnn()
    model.load_state_dict(state)  # into a fresh model: the logged test figures again
    model.eval()
    test = Quadrants(40, 2)
    with torch.no_grad():
        out = model(torch.from_numpy(test.images))
        labels = torch.from_numpy(test.labels)
        assert float((out.argmax(1) == labels).double().mean()) == accuracy
        ce = float(torch.nn.functional.cross_entropy(out, labels))
    assert ce == pytest.approx(test_loss, rel=1e-5)
    params = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()
    np.testing.assert_array_equal(params, result["params"])


def test_adamw_changes_the_trajectory_and_is_logged(runs):
    plain, adamw = _ranks(runs, "plain"), _ranks(runs, "adamw")
    assert plain["counts"].tolist() == adamw["counts"].tolist()  # the same rounds and SFO
    assert not np.allclose(plain["params"], adamw["params"])
    run = read_run(runs / "adamw.h5")
    assert run.attrs["optimizer"].startswith("AdamW(lr=0.01, ")
    assert "\n  optimizer        AdamW(lr=0.01, " in describe(run)  # crpsgd info shows it
    assert np.isfinite(run.eval["objective"]).all()


def test_bad_input_is_one_message_per_rank_naming_the_argument(tmp_path):
    proc = run_mpi(2, ["tests/torch_api_script.py", "bad", str(tmp_path)], timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    got = {}
    for rank in "01":
        text = (tmp_path / f"bad-rank{rank}.txt").read_text()
        got.update({(c, rank): m for c, m in re.findall(r"^(\S+): (.*)$", text, re.M)})
    expected = {
        "not-pairs": "train_data: item .* is a Tensor, not an \\(input, target\\) pair",
        "too-few-outputs": "model=<lambda>: does not fit the data train_data=Quadrants .*4 "
        "classes.*output of shape \\(3,\\) per sample",
        "regression-shape": "model=<lambda>: does not fit .*float targets.*output of shape "
        "\\(2,\\) per sample, float targets of shape \\(1,\\)",
        "loss-not-scalar": "loss=MSELoss: returned a tensor of shape \\(2, 1\\), not a scalar",
        "test-targets": "model=small_cnn: does not fit the data test_data=\\(ndarray X, "
        "ndarray y\\) .*8 classes.*expected \\(8,\\) scores",
        "unknown": "bogus_flag=: unknown keyword of train\\(\\); valid: T, .*\\balgo\\b",
        "misspelt": "momentun=: unknown keyword of train\\(\\) \\(did you mean momentum[ )]",
    }
    for case, pattern in expected.items():
        for rank in "01":  # every rank leaves the call with the error: none waits
            assert re.search(pattern, got[(case, rank)]), (case, rank, got.get((case, rank)))
    assert not list(tmp_path.glob("*.h5")) and not list(tmp_path.glob("*.pt"))


def test_a_failure_of_one_rank_during_the_rounds_ends_every_rank(tmp_path):
    proc = run_mpi(2, ["tests/torch_api_script.py", "fails", str(tmp_path)], timeout=120)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "returned" not in proc.stdout
    lines = [x for x in proc.stderr.splitlines() if x.startswith("crpsgd: ")]
    assert lines == [
        "crpsgd: rank 1: model=<lambda>: the training step failed: RuntimeError: boom"
    ], proc.stderr[-3000:]
    assert read_run(tmp_path / "fails.h5").attrs["status"].startswith("failed: rank 1: ")


def test_the_model_named_by_a_file_or_a_module_string(tmp_path):
    proc = run_mpi(1, ["tests/torch_api_script.py", "specs", str(tmp_path)], timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = (tmp_path / "specs.txt").read_text().splitlines()
    assert lines[0].startswith("tests/torch_api_script.py:small_cnn: ")
    assert lines[1].startswith("tests.torch_api_script:small_cnn: ")
    runs = [line.partition(": ")[2] for line in lines[:2]]
    assert runs[0] == runs[1] and runs[0].endswith(" rounds, Sequential")  # the same run
    assert lines[2] == (
        "missing: model=tests/no_such_file.py:build: build() failed: FileNotFoundError: no "
        "file tests/no_such_file.py"
    )


def test_keywords_with_an_optimizer_and_those_train_sets_itself():
    check_keywords({"T": 100, "micro_batch": 4}, optimizer=False)
    with pytest.raises(UsageError, match="gamma=: with optimizer= the optimizer's own"):
        check_keywords({"gamma": 0.1}, optimizer=True)
    with pytest.raises(UsageError, match="data=: not a keyword of train\\(\\): pass the data"):
        check_keywords({"data": "a9a"}, optimizer=False)
    with pytest.raises(UsageError, match="resume=: not taken by train"):
        check_keywords({"resume": "x.ckpt.h5"}, optimizer=False)


def test_a_keyword_of_a_part_the_run_does_not_select_is_refused_by_name():
    refused = {
        "rho=: not used by this run: --rho belongs to --algo cr-psgd/cr-psgd-catalyst, not "
        "--algo psgd": {"algo": "psgd", "batch": 16, "rho": 1.5},
        "period=: not used by this run: --period belongs to --algo local-sgd": {"period": 3},
        "eta=: not used by this run: --eta belongs to --schedule adaptive, not --schedule "
        "exponential": {"b1": 8, "eta": 2.0},
        "lam=: not used by this run: --lam belongs to --problem logreg": {"lam": 1e-3},
        "hidden=: not used by this run: --hidden belongs to --problem mlp": {"hidden": 3},
    }
    for message, keywords in refused.items():
        with pytest.raises(UsageError, match=re.escape(message)):
            check_keywords(keywords, optimizer=False)
    for keywords in (
        {"b1": 8, "rho": 1.5, "micro_batch": 4, "momentum": 0.9},
        {"algo": "psgd", "batch": 16, "lr_scaling": "linear", "rho": None},
        {"schedule": "adaptive", "b1": 8, "eta": 2.0, "max_growth": 3},
        {"algo": "diloco", "batch": 8, "period": 4, "outer_lr": 0.5, "weight_decay": 0.1},
        {"algo": "no-such-algo", "rho": 1.5},  # left to the run's own check of algo
    ):
        check_keywords(keywords, optimizer=False)


def test_integer_and_float_targets_and_pairs():
    classes = ObjectData((np.zeros((6, 2)), np.array([0, 2, 1, 0, 2, 5])), "train_data")
    shards = [classes.shard(r, 2) for r in range(2)]
    assert [s.n_classes for s in shards] == [3, 6] and shards[0].labels.dtype == np.int64
    assert shards[0].plain and not shards[0].is_image and shards[0].x.dtype == np.float32
    floats = ObjectData(torch.utils.data.TensorDataset(torch.zeros(4, 2), torch.ones(4)), "d")
    shard = floats.shard(1, 2)
    assert shard.n_classes == 0 and shard.labels.dtype == np.float32 and shard.n_rows == 2
    with pytest.raises(UsageError, match="test_data: \\(X, y\\) with 3 rows in X but 2 in y"):
        ObjectData((np.zeros((3, 2)), np.zeros(2)), "test_data")

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield torch.zeros(2), 0

    with pytest.raises(UsageError, match="train_data: a Stream, not a map-style"):
        ObjectData(Stream(), "train_data")
    pairs = ObjectData([(torch.zeros(2), 1), (torch.ones(2), 0)], "train_data").shard(0, 1)
    assert pairs.labels.tolist() == [1, 0] and pairs.x.shape == (2, 2)
