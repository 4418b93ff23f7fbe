"""A user's optimizer's state as checkpoint arrays and back (:class:`OptimizerUpdate`):
AdamW's moments and step (float32 again after the checkpoint's float64), Python numbers of
an optimizer of one's own, and a state a checkpoint cannot keep refused by name."""

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install crpsgd[torch])")

from crpsgd.errors import UserCodeError  # noqa: E402
from crpsgd.torch.optimizer import OptimizerUpdate  # noqa: E402


class Counting(torch.optim.SGD):
    """SGD that also counts its steps in a Python int and keeps a float of its own."""

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["count"] = state.get("count", 0) + 1
                state["scale"] = 0.5 * state.get("scale", 1.0)
        return super().step(closure)


def _trained(factory, steps=3):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    update = OptimizerUpdate(factory, SimpleNamespace(model=model), "optimizer=test", 1.0)
    for _ in range(steps):
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        update.optimizer.step()
    return model, update


def _fresh(factory):
    model = torch.nn.Linear(3, 2)
    return OptimizerUpdate(factory, SimpleNamespace(model=model), "optimizer=test", 1.0)


@pytest.mark.parametrize(
    "factory",
    [lambda p: torch.optim.AdamW(p, lr=0.01), lambda p: Counting(p, lr=0.1, momentum=0.9)],
)
def test_the_state_survives_a_float64_checkpoint(factory):
    _, update = _trained(factory)
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in update.state_arrays().items()}
    again = _fresh(factory)
    again.load_state_arrays({**arrays, "norm_stats": np.zeros(1)})  # others are left alone
    want, got = update.optimizer.state_dict()["state"], again.optimizer.state_dict()["state"]
    assert want.keys() == got.keys() and len(want) == 2
    for index in want:
        assert want[index].keys() == got[index].keys()
        for key, value in want[index].items():
            if isinstance(value, torch.Tensor):
                assert got[index][key].dtype == value.dtype and torch.equal(got[index][key], value)
            else:
                assert type(got[index][key]) is type(value) and got[index][key] == value


def test_a_state_that_is_no_tensor_nor_number_is_refused_by_name():
    class Listing(torch.optim.SGD):
        def step(self, closure=None):
            for p in self.param_groups[0]["params"]:
                self.state[p]["history"] = [1, 2]
            return super().step(closure)

    _, update = _trained(lambda p: Listing(p, lr=0.1), steps=1)
    with pytest.raises(UserCodeError, match="optimizer=test: state 'history' of parameter 0 is"):
        update.state_arrays()
