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
