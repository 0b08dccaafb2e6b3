"""Networks used by the VeRA+ demo and overhead accounting.

- :func:`small_cnn`: a 3-conv CNN for 8x8 digits (or 28x28 MNIST-family) images.
- :func:`resnet20`: ResNet-20 for CIFAR shapes (3x32x32, He et al. 2016, option-A
  parameter-free shortcuts, 0.27 M parameters), used for the paper's overhead numbers.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from hil.errors import ParameterError


def small_cnn(n_classes: int = 10, in_channels: int = 1, width: int = 16) -> nn.Sequential:
    """conv(w)-BN-ReLU, conv(2w)-BN-ReLU-pool, conv(2w)-BN-ReLU-global pool, linear."""
    if width < 1 or n_classes < 2:
        raise ParameterError(f"small_cnn needs width >= 1 and n_classes >= 2 "
                             f"(got width={width}, n_classes={n_classes})")
    w = width
    return nn.Sequential(
        nn.Conv2d(in_channels, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(2 * w, n_classes),
    )


class _Shortcut(nn.Module):
    """Option A: subsample and zero-pad channels (no parameters)."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = _Shortcut(c_out - c_in) if (stride != 1 or c_in != c_out) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs: 16-32-64 channels, n blocks per stage."""

    def __init__(self, n: int = 3, n_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, c_in = [], 16
        for c_out, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(BasicBlock(c_in, c_out, stride if i == 0 else 1))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet20(n_classes: int = 10) -> ResNetCifar:
    """ResNet-20 (CIFAR-10 shapes by default; ``n_classes=100`` for CIFAR-100)."""
    return ResNetCifar(3, n_classes)


MODELS = {"small_cnn": small_cnn, "resnet20": resnet20}


def build(name: str, **kwargs) -> nn.Module:
    """A model by name (``small_cnn``, ``resnet20``) with its keyword arguments."""
    if name not in MODELS:
        raise ParameterError(f"model {name!r} unknown; allowed: {sorted(MODELS)}")
    return MODELS[name](**kwargs)
