"""ResNet20 for CIFAR-10 (He, Zhang, Ren & Sun 2016, section 4.2).

A 3 x 3 convolution with 16 filters, then three stages of ``n = 3`` basic blocks with 16, 32
and 64 filters on feature maps of 32 x 32, 16 x 16 and 8 x 8 (the first block of stages 2
and 3 subsamples with stride 2), global average pooling and one linear layer to 10 classes:
6n + 2 = 20 weighted layers, 269,722 parameters. A basic block is conv-BN-ReLU-conv-BN, plus
the shortcut, then ReLU. Shortcuts are option A of the paper: the identity, and where the
shape changes, the input subsampled by 2 and padded with zero channels (parameter-free).
Convolutions have no bias (BatchNorm follows each).

Initialisation (``seed``): convolution and linear weights Kaiming-normal (fan-in, ReLU gain,
He et al. 2015) from one ``torch.Generator`` seeded with ``seed``, so every rank builds the
same model; BatchNorm weights 1, all biases 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes - in_planes  # zero channels of the option-A shortcut
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.stride != 1 or self.pad:
            short = x[:, :, :: self.stride, :: self.stride]
            half = self.pad // 2
            short = F.pad(short, (0, 0, 0, 0, half, self.pad - half))
        return F.relu(out + short)


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) for 32 x 32 inputs with 3 channels."""

    def __init__(self, n: int = 3, n_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for k in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if k == 0 else 1))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, n_classes)
        generator = torch.Generator().manual_seed(seed)
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(
                    mod.weight, mode="fan_in", nonlinearity="relu", generator=generator
                )
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.conv(x)))
        out = self.blocks(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.fc(out)


def resnet20(n_classes: int = 10, seed: int = 0) -> ResNetCifar:
    """ResNet20 (``n = 3``) initialised from ``seed``."""
    return ResNetCifar(3, n_classes, seed)
