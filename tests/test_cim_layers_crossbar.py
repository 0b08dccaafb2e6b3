"""CIM layer shapes and the RLMP crossbar formulas against hand-computed cases."""
from dataclasses import dataclass

import pytest
from torch import nn

from hil.cim.crossbar import crossbar_executes, crossbar_latency_s, crossbar_writes
from hil.cim.layers import LayerShape, layer_shapes, mobilenet_v2_shapes, resnet20_shapes
from hil.errors import ParameterError


def test_writes_hand_cases():
    # 300 rows × 4 slices = 1200 rows over 256-row crossbars -> 5; 100 cols on 128 -> 1
    assert crossbar_writes(300, 100, 256, 128, w_bits=8, cell_bits=2) == 5
    assert crossbar_writes(300, 100, 256, 128, 8, 2, differential=True) == 10
    assert crossbar_writes(256, 128, 256, 128, 4, 4) == 1
    assert crossbar_writes(257, 129, 256, 128, 4, 4) == 4          # 2 × 2 tiles
    assert crossbar_writes(64, 10, 256, 128, 3, 2) == 1            # ⌈3/2⌉ = 2 slices, 128 rows


def test_executes_and_latency_hand_case():
    assert crossbar_executes(64, 5, a_bits=8, in_bits=2) == 64 * 5 * 4
    assert crossbar_executes(1, 3, a_bits=5, in_bits=2) == 9       # ⌈5/2⌉ = 3 cycles

    @dataclass
    class U:
        rows: int = 256
        cols: int = 128
        cell_bits: int = 2
        dac_bits: int = 2
        differential: bool = False
        t_write_s: float = 1e-3
        t_exec_s: float = 1e-8

    layer = LayerShape("l", "conv", fan_in=300, fan_out=100, invocations=64)
    # writes 5, executes 64·5·4 = 1280: 2·(5·1 ms + 1280·10 ns)
    assert crossbar_latency_s(layer, U(), w_bits=8, a_bits=8, repeat=2) == pytest.approx(
        2 * (5e-3 + 1280e-8), rel=1e-12)


def test_crossbar_rejects_bad_values():
    with pytest.raises(ParameterError, match="w_bits=0"):
        crossbar_writes(10, 10, 256, 256, 0, 2)
    with pytest.raises(ParameterError, match="in_bits"):
        crossbar_executes(1, 1, 8, 0)


def test_layer_shapes_of_a_torch_model():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 10))
    conv, fc = layer_shapes(model, (1, 8, 8))
    assert (conv.kind, conv.fan_in, conv.fan_out, conv.invocations) == ("conv", 9, 8, 64)
    assert conv.macs == 9 * 8 * 64
    assert (fc.kind, fc.fan_in, fc.fan_out, fc.invocations, fc.macs) == ("linear", 512, 10, 1, 5120)


def test_resnet20_shapes():
    s = resnet20_shapes()
    assert len(s) == 20                                  # 19 convs + fc (option-A shortcuts)
    assert (s[0].fan_in, s[0].fan_out, s[0].invocations) == (27, 16, 32 * 32)
    assert sum(x.macs for x in s) == 40_551_040          # He et al.'s ~41 M MACs
    assert resnet20_shapes(100)[-1].fan_out == 100


def test_mobilenet_v2_shapes_match_published_size():
    s = mobilenet_v2_shapes()
    # Sandler et al. 2018 Table 4: 300 M multiply-adds, 3.4 M parameters.  torchvision's
    # mobilenet_v2 has 3,504,872 parameters = 3,469,760 conv/linear weights + 34,112 BN + 1,000 bias.
    assert sum(x.weights for x in s) == 3_469_760
    assert sum(x.macs for x in s) == pytest.approx(300e6, rel=0.01)
    dw = [x for x in s if x.groups > 1]
    assert len(dw) == 17 and all(x.fan_in == 9 for x in dw)
