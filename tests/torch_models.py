"""Small models for the torch tests, importable as ``--model tests.torch_models:NAME``."""

import torch
from torch import nn


def small_cnn() -> nn.Module:
    """A convolution, BatchNorm, pooling and a linear layer for (3, 32, 32) images."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def cnn_without_norm() -> nn.Module:
    """As :func:`small_cnn` without BatchNorm: its minibatch gradient is a plain mean."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.Tanh(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def tabular_with_loss():
    """A linear model for 5 features and two classes, with its own loss."""
    return nn.Linear(5, 2), nn.CrossEntropyLoss()


def not_a_module():
    return "a string"


def expects_five_features() -> nn.Module:
    return nn.Linear(5, 10)


def failing():
    raise RuntimeError("cannot build")


def random_init_unseeded():
    """Draws its initialisation from the global torch stream (seeded by the builder)."""
    model = nn.Linear(5, 2)
    with torch.no_grad():
        model.weight.normal_()
    return model


def tabular_dropout() -> nn.Module:
    """5 features, 2 classes, Dropout: draws from torch's global generator in training."""
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))


def tabular_spectral_norm() -> nn.Module:
    """``spectral_norm``'s power iteration updates its buffers ``u`` and ``v`` per forward."""
    return nn.Sequential(
        nn.utils.parametrizations.spectral_norm(nn.Linear(5, 8)), nn.Tanh(), nn.Linear(8, 2)
    )


class _RunningScale(nn.Module):
    """A linear layer scaled by a buffer it updates in training mode (a custom buffer)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 2)
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x):
        out = self.linear(x)
        if self.training:
            with torch.no_grad():
                self.scale.mul_(0.9).add_(0.1 * out.abs().mean(0))
        return out * self.scale


def tabular_custom_buffer() -> nn.Module:
    return _RunningScale()


def mlp_five_features() -> nn.Module:
    """A two-layer network for 5 features and two classes (no BatchNorm, no randomness)."""
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
