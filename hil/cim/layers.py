"""Layer shapes of a network as a CIM mapper sees them: unrolled weight matrices.

A layer is an m×n weight matrix (m = ``fan_in`` rows = C_in/groups·k_h·k_w or in_features,
n = ``fan_out`` = C_out or out_features) applied to ``invocations`` input vectors per inference
(output pixels for a convolution, 1 for a linear layer).  The torch traversal is the one in
:func:`hil.nn.overhead.layer_shapes`; ResNet-20 uses :func:`hil.nn.models.resnet20`;
MobileNet-v2 (Sandler et al. 2018, Table 2, width 1.0, 224×224) is built arithmetically here,
so no data and no torchvision are needed.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from hil.errors import ParameterError


@dataclass(frozen=True)
class LayerShape:
    """One conv/linear layer as an unrolled ``fan_in`` × ``fan_out`` weight matrix."""

    name: str
    kind: str  # "linear" | "conv"
    fan_in: int
    fan_out: int
    invocations: int
    groups: int = 1  # >1: grouped/depthwise conv, fan_in is per group (C_in/groups·k·k)

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "conv"):
            raise ParameterError(f"layer {self.name}: kind {self.kind!r}; allowed: 'linear', 'conv'")
        for field in ("fan_in", "fan_out", "invocations", "groups"):
            if getattr(self, field) < 1:
                raise ParameterError(f"layer {self.name}: {field}={getattr(self, field)} must be >= 1")

    @property
    def weights(self) -> int:
        """Number of weights (fan_in · fan_out)."""
        return self.fan_in * self.fan_out

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference."""
        return self.fan_in * self.fan_out * self.invocations


def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerShape]:
    """Conv2d/Linear layers of ``model`` (execution order) for one input of ``input_shape``."""
    from hil.nn.overhead import layer_shapes as _traverse

    modules = dict(model.named_modules())
    out = []
    for s in _traverse(model, tuple(input_shape)):
        kind = "linear" if isinstance(modules[s.name], nn.Linear) else "conv"
        out.append(LayerShape(s.name, kind, s.c_in // s.groups * s.k * s.k, s.c_out,
                              s.positions, s.groups))
    return out


def resnet20_shapes(num_classes: int = 10) -> list[LayerShape]:
    """ResNet-20 for 3×32×32 CIFAR inputs (option-A shortcuts, :func:`hil.nn.models.resnet20`)."""
    from hil.nn.models import resnet20

    return layer_shapes(resnet20(num_classes), (3, 32, 32))


# MobileNet-v2 inverted-residual settings (t expansion, c channels, n repeats, s stride),
# Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018, Table 2.
_MBV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2_shapes(num_classes: int = 1000, resolution: int = 224) -> list[LayerShape]:
    """MobileNet-v2 (width 1.0) layer shapes: ~300 M MACs, ~3.5 M weights at 224×224."""
    if num_classes < 1 or resolution < 32:
        raise ParameterError(f"mobilenet_v2_shapes: num_classes={num_classes} must be >= 1 and "
                             f"resolution={resolution} >= 32")

    def conv_out(h: int, stride: int) -> int:  # 3×3 pad 1 or 1×1 pad 0: ceil(h / stride)
        return (h - 1) // stride + 1

    shapes: list[LayerShape] = []
    h = conv_out(resolution, 2)
    shapes.append(LayerShape("features.0", "conv", 3 * 9, 32, h * h))
    c_in, idx = 32, 1
    for t, c, n, s in _MBV2:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c_in * t
            pre = f"features.{idx}"
            if t != 1:
                shapes.append(LayerShape(f"{pre}.expand", "conv", c_in, hidden, h * h))
            h = conv_out(h, stride)
            shapes.append(LayerShape(f"{pre}.depthwise", "conv", 9, hidden, h * h, groups=hidden))
            shapes.append(LayerShape(f"{pre}.project", "conv", hidden, c, h * h))
            c_in, idx = c, idx + 1
    shapes.append(LayerShape(f"features.{idx}", "conv", c_in, 1280, h * h))
    shapes.append(LayerShape("classifier", "linear", 1280, num_classes, 1))
    return shapes
