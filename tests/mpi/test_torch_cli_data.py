"""``crpsgd run --problem torch`` with the user's own code named on the command line:
``--data``/``--test-data``/``--model`` as ``path/file.py:fn`` or ``pkg.module:fn`` (files the
test writes), and the trained ``<out stem>.pt`` that the run leaves beside its log."""

import os
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.runlog import read_run  # noqa: E402
from tests.conftest import ROOT, run_cli, run_mpi  # noqa: E402
from tests.failure_tools import one_message  # noqa: E402

pytestmark = pytest.mark.mpi

OWN = textwrap.dedent(
    """
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset


    def _xy():
        g = torch.Generator().manual_seed(1)
        x = torch.randn(96, 4, generator=g)
        return x, (x[:, 0] + 0.5 * x[:, 1] > 0).long()


    def pair():  # (train, test) Datasets
        x, y = _xy()
        return TensorDataset(x[:64], y[:64]), TensorDataset(x[64:], y[64:])


    def train_xy():  # (X, y) arrays
        x, y = _xy()
        return x[:64].numpy(), y[:64].numpy()


    def test_xy():
        x, y = _xy()
        return x[64:].numpy(), y[64:].numpy()


    def unseeded():  # drawn from the global generator: the same on every rank all the same
        x = torch.randn(64, 4)
        return TensorDataset(x, (x[:, 0] > 0).long())


    def build():
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


    class Singles(torch.utils.data.Dataset):  # items that are not (input, target) pairs
        def __len__(self):
            return 20

        def __getitem__(self, i):
            return torch.zeros(4)


    def singles():
        return Singles()


    def four_classes():  # class numbers 0..3 for a model of 2 outputs
        x = torch.randn(40, 4)
        return x, torch.arange(40) % 4


    def per_sample_loss():  # a loss that is not a scalar
        return build(), nn.CrossEntropyLoss(reduction="none")


    def failing():
        raise RuntimeError("no data here")
    """
)
FLAGS = ["--algo", "cr-psgd", "--b1", "2", "--rho", "1.5", "--T", "48", "--gamma", "0.2"]


def _env(*paths):
    return {"PYTHONPATH": os.pathsep.join([*map(str, paths), str(ROOT)])}


def _run(tmp_path, out, model, data, *extra):
    args = ["-m", "crpsgd", "run", "--problem", "torch", "--model", model, "--data", data]
    args += ["--out", str(out), "--quiet", "--eval-rows", "16", *FLAGS, *extra]
    return run_mpi(2, args, timeout=300, env=_env(tmp_path))


def test_file_and_module_specs_give_one_run_and_the_state_dict_reloads(tmp_path):
    (tmp_path / "own_code.py").write_text(OWN)
    own = tmp_path / "own_code.py"
    runs = {
        "file": _run(tmp_path, tmp_path / "file.h5", f"{own}:build", f"{own}:pair"),
        "module": _run(tmp_path, tmp_path / "module.h5", "own_code:build", "own_code:pair"),
        "arrays": _run(
            tmp_path, tmp_path / "arrays.h5", "own_code:build", f"{own}:train_xy",
            "--test-data", "own_code:test_xy",
        ),
    }  # fmt: skip
    for name, proc in runs.items():
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
    logs = {name: read_run(tmp_path / f"{name}.h5") for name in runs}
    file = logs["file"]
    assert file.attrs["data_kind"] == "callable" and file.attrs["data_path"] == f"{own}:pair"
    assert list(file.attrs["data_shape"]) == [64, 4]
    assert file.summary["rounds"] > 3
    for other in ("module", "arrays"):  # the same data and model however named
        np.testing.assert_array_equal(logs[other].x, file.x)
        assert logs[other].summary["test_accuracy"] == file.summary["test_accuracy"]

    state_file = tmp_path / "file.pt"
    info = run_cli(["info", str(tmp_path / "file.h5")])
    assert f"  state_dict       {state_file} ({state_file.stat().st_size} bytes)" in info.stdout
    namespace: dict = {}
    exec(compile(OWN, "own_code.py", "exec"), namespace)
    model = namespace["build"]()
    model.load_state_dict(torch.load(state_file))
    test_x, test_y = namespace["test_xy"]()
    with torch.no_grad():
        out = model(torch.from_numpy(test_x))
    accuracy = float((out.argmax(1).numpy() == test_y).mean())
    assert accuracy == file.summary["test_accuracy"]
    loss = float(torch.nn.functional.cross_entropy(out, torch.from_numpy(test_y)))
    assert loss == pytest.approx(file.summary["test_loss"], rel=1e-5)
    params = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()
    np.testing.assert_array_equal(params, file.x)


def test_the_data_callable_sees_seeded_generators_on_every_rank(tmp_path):
    (tmp_path / "own_code.py").write_text(OWN)
    from crpsgd.builtin.torch_data import load_shards

    spec = f"{tmp_path / 'own_code.py'}:unseeded"
    before = torch.get_rng_state()
    first = [load_shards(spec, r, 2, None)[0] for r in range(2)]
    again = load_shards(spec, 1, 2, None)[0]
    assert torch.equal(torch.get_rng_state(), before)  # the caller's stream is left alone
    np.testing.assert_array_equal(again.x, first[1].x)  # what every rank would see
    assert first[0].n_rows == first[1].n_rows == 32 and first[0].plain


def test_the_state_file_is_not_overwritten_without_overwrite(tmp_path):
    (tmp_path / "own_code.py").write_text(OWN)
    (tmp_path / "run.pt").write_bytes(b"keep")
    proc = _run(tmp_path, tmp_path / "run.h5", "own_code:build", "own_code:pair")
    assert proc.returncode == 2 and proc.stderr.count("crpsgd: error:") == 1, proc.stderr
    assert "the state_dict file" in proc.stderr and "--overwrite" in proc.stderr
    assert (tmp_path / "run.pt").read_bytes() == b"keep" and not (tmp_path / "run.h5").exists()


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        ("build", "singles", "--data={own}:singles: item 0 is a Tensor, not an (input, target)"),
        (
            "build",
            "four_classes",
            "--model={own}:build: does not fit the data --data={own}:four_classes (Tensor X, "
            "Tensor y) (samples of shape (4,), 4 classes): ValueError: output of shape (2,) "
            "per sample, expected (4,) scores for 4 classes",
        ),
        (
            "per_sample_loss",
            "pair",
            "--model={own}:per_sample_loss: does not fit the data --data={own}:pair "
            "(TensorDataset) (samples of shape (4,), 2 classes): ValueError: the loss returned "
            "shape (2,), not a scalar",
        ),
        ("build", "failing", "--data={own}:failing: {own}:failing() failed: RuntimeError: no"),
    ],
)
def test_bad_user_code_is_one_message_and_exit_2(tmp_path, model, data, expected):
    own = tmp_path / "own_code.py"
    own.write_text(OWN)
    out = tmp_path / "bad.h5"
    proc = _run(tmp_path, out, f"{own}:{model}", f"{own}:{data}")
    assert proc.returncode == 2, proc.stderr
    one_message(proc.stderr, expected.format(own=own))
    assert not out.exists() and not out.with_suffix(".pt").exists()
