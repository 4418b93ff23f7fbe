"""Misbehaving user code for the failure-class tests of issue 22, importable as
``--model tests.torch_bad_models:NAME``; every model takes 5 features and 2 classes
(``--data synthetic:n=...,d=5``)."""

import os
import sys
import threading
import time

import numpy as np
import torch
from torch import nn


def _rank() -> int:
    return int(os.environ.get("PMI_RANK", "0"))


def linear() -> nn.Module:
    """A well-behaved model, for runs that must succeed."""
    return nn.Linear(5, 2)


def exit_on_rank1() -> nn.Module:
    if _rank() == 1:
        sys.exit(3)
    return nn.Linear(5, 2)


def exit0_everywhere() -> nn.Module:
    sys.exit(0)


def os_exit_on_rank1() -> nn.Module:
    if _rank() == 1:
        os._exit(0)
    return nn.Linear(5, 2)


def starts_a_thread() -> nn.Module:
    threading.Thread(target=time.sleep, args=(3600,), name="user-thread").start()
    return nn.Linear(5, 2)


def size_per_rank() -> nn.Module:
    """Rank r's model has r unused parameters more than rank 0's."""
    model = nn.Linear(5, 2)
    if _rank():
        model.extra = nn.Parameter(torch.zeros(_rank()))
    return model


def numpy_init() -> nn.Module:
    """Initialises from numpy's unseeded global stream: different on every rank."""
    model = nn.Linear(5, 2)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(np.random.default_rng().normal(size=(2, 5))))
    return model


def from_environment() -> nn.Module:
    """Hidden width ``CRPSGD_TEST_WIDTH`` (4) and activation ``CRPSGD_TEST_ACT`` (relu):
    the same source builds different models, as an edited one would."""
    width = int(os.environ.get("CRPSGD_TEST_WIDTH", "4"))
    act = nn.Tanh() if os.environ.get("CRPSGD_TEST_ACT") == "tanh" else nn.ReLU()
    return nn.Sequential(nn.Linear(5, width), act, nn.Linear(width, 2))


def too_big() -> nn.Module:
    """2^28 + 1 parameters, none of them allocated (on the meta device)."""
    model = nn.Linear(5, 2)
    model.huge = nn.Parameter(torch.empty(2**28 + 1 - 12, device="meta"))
    return model


class _Forward(nn.Module):
    """``nn.Linear(5, 2)`` whose forward first does ``misbehave(self)``."""

    def __init__(self, misbehave) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 2)
        self.misbehave = misbehave

    def forward(self, x):
        self.misbehave(self)
        return self.linear(x)


def _fail_in_training(exc: Exception):
    def misbehave(module: nn.Module) -> None:
        if module.training:
            raise exc

    return misbehave


def assertion_in_training() -> nn.Module:
    def misbehave(module: nn.Module) -> None:
        assert not module.training, "no training here"

    return _Forward(misbehave)


def key_error_in_training() -> nn.Module:
    return _Forward(_fail_in_training(KeyError("features")))


def grads_to_none() -> nn.Module:
    """Sets every gradient to None in forward (``zero_grad()``): trains nothing."""
    return _Forward(lambda module: module.zero_grad(set_to_none=True))


def lazy() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(2))


def float_loss():
    return nn.Linear(5, 2), lambda out, target: out.sum().item()


def loss_ignores_output():
    return nn.Linear(5, 2), lambda out, target: torch.zeros(()) + target.float().mean()


def frozen() -> nn.Module:
    model = nn.Linear(5, 2)
    model.requires_grad_(False)
    return model


def batch_norm() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def exit_in_training_on_rank1() -> nn.Module:
    """Calls ``os._exit(0)`` in its third training forward on rank 1 (during the rounds)."""
    calls = [0]

    def misbehave(module: nn.Module) -> None:
        if module.training:
            calls[0] += 1
            if _rank() == 1 and calls[0] == 3:
                os._exit(0)

    return _Forward(misbehave)


class _NanForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 2)

    def forward(self, x):
        return self.linear(x) * float("nan")


def nan_output() -> nn.Module:
    """Every output is NaN: the objective is not finite at the starting point."""
    return _NanForward()


def grads_to_none_later() -> nn.Module:
    """Sets every gradient to None from its fifth training forward on (after the check)."""
    calls = [0]

    def misbehave(module: nn.Module) -> None:
        if module.training:
            calls[0] += 1
            if calls[0] >= 5:
                module.zero_grad(set_to_none=True)

    return _Forward(misbehave)
