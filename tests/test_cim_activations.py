"""Input activations in the unit's number format (hil.cim.activations) and the one budget rule
(hil.cim.budget) shared by the partition and the bit-width search."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from hil.cim.activations import calibrate_inputs, quantize_activation, with_input_quant
from hil.cim.budget import Z_ONE_SIDED_95, upper_bound, within_budget
from hil.cim.inject import Placement
from hil.cim.sensitivity import format_sensitivity, weight_layers
from hil.errors import ParameterError


@pytest.fixture(scope="module")
def mlp(digits_mlp_trained):
    m, s = digits_mlp_trained
    return copy.deepcopy(m), s


def test_quantize_activation_grids():
    x = torch.linspace(-1.5, 1.5, 1001)
    u = quantize_activation(x.clamp(min=0), "int4", 1.0, signed=False)
    assert len(torch.unique(u)) == 16 and u.min() == 0 and u.max() == pytest.approx(1.0)
    s = quantize_activation(x, "int8", 1.0, signed=True)
    assert len(torch.unique(s)) == 255 and s.max() == pytest.approx(1.0)   # ±127 levels, clipped
    assert torch.allclose(s, -quantize_activation(-x, "int8", 1.0, signed=True))
    f8 = quantize_activation(x * 10, "fp8", 1.0, signed=True)
    assert torch.isfinite(f8).all() and f8.abs().max() == pytest.approx(1.0)  # saturates at amax
    assert torch.equal(quantize_activation(x, "fp16", 1.0, True), x.half().float())
    assert quantize_activation(x, "fp32", 1.0, True) is x
    with pytest.raises(ParameterError, match="unknown"):
        quantize_activation(x, "int3", 1.0, True)


def test_int4_inputs_differ_from_fp16_inputs(mlp):
    model, s = mlp
    ranges = calibrate_inputs(model, weight_layers(model), s.x_train[:256])
    assert ranges["1"] == (pytest.approx(float(s.x_train[:256].abs().max())), False)
    assert ranges["3"][1] is False                      # after a ReLU: unsigned levels
    x = s.x_test

    def hidden(m):
        with torch.no_grad():
            return m[1](m[0](x))

    q4 = with_input_quant(model, (Placement("1.weight", "int4"),), ranges)
    q16 = with_input_quant(model, (Placement("1.weight", "fp16"),), ranges)
    h4, h16, h = hidden(q4), hidden(q16), hidden(model)
    assert (h4 - h16).abs().max() > 1e-2                # INT4 inputs change the layer's output
    assert (h16 - h).abs().max() < 1e-3                 # FP16 inputs barely do
    # the layer really saw 16 input levels: same as quantizing the input by hand
    amax = ranges["1"][0]
    by_hand = nn.functional.linear(quantize_activation(x.flatten(1), "int4", amax, False),
                                   model[1].weight, model[1].bias)
    assert torch.allclose(h4, by_hand, atol=1e-6)
    # the original is untouched, parameter names are unchanged (the MC engine perturbs them)
    assert not model[1]._forward_pre_hooks and not model[1]._forward_hooks
    assert [n for n, _ in q4.named_parameters()] == [n for n, _ in model.named_parameters()]
    # kernel groups on two formats: each group's channels from its own quantized input
    mixed = with_input_quant(model, (Placement("1.weight", "int4", ch0=0, ch1=10),
                                     Placement("1.weight", "fp16", ch0=10)), ranges)
    hm = hidden(mixed)
    assert torch.allclose(hm[:, :10], h4[:, :10]) and torch.allclose(hm[:, 10:], h16[:, 10:])


def test_grouped_conv_input_formats():
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3)).eval()
    x = torch.randn(5, 1, 8, 8)
    r = calibrate_inputs(m, weight_layers(m), x)
    assert r["0"][1] is True and r["2"][1] is False      # signed input, then ReLU output
    parts = (Placement("2.weight", "int4", ch0=0, ch1=1), Placement("2.weight", "fp8", ch0=3))
    mixed = with_input_quant(m, parts, r)
    with torch.no_grad():
        hm, h = mixed(x), m(x)
        h4 = with_input_quant(m, (Placement("2.weight", "int4"),), r)(x)
        h8 = with_input_quant(m, (Placement("2.weight", "fp8"),), r)(x)
    assert torch.allclose(hm[:, :1], h4[:, :1]) and torch.allclose(hm[:, 3:], h8[:, 3:])
    assert torch.allclose(hm[:, 1:3], h[:, 1:3])          # unplaced channels: float inputs
    with pytest.raises(ParameterError, match="overlap"):
        with_input_quant(m, (Placement("2.weight", "int4", ch0=0, ch1=3),
                             Placement("2.weight", "fp8", ch0=2)), r)


def test_format_sensitivity_includes_the_activation_error(mlp):
    model, s = mlp
    data = (s.x_test, s.y_test)
    # a calibration batch with one outlier pixel (64 instead of <= 1): INT4 input steps of
    # 64/15 wipe the digits out, INT8 steps of 64/255 keep a coarse image; weights alone lose
    # nothing
    calib = s.x_train[:256].clone()
    calib[0, 0, 0, 0] = 64.0
    r = calibrate_inputs(model, weight_layers(model), calib)
    act = format_sensitivity(model, data, ("int4", "int8", "fp16"), act_ranges=r, progress=False)
    wonly = format_sensitivity(model, data, ("int4", "int8", "fp16"), quantize_inputs=False,
                               progress=False)
    print(f"first-layer drop, INT4 weights+inputs {act['int4'][0]:.3f}, weights only "
          f"{wonly['int4'][0]:.3f}; FP16 {act['fp16'][0]:.3f}")
    assert act["int4"][0] > 0.5 > 0.01 > abs(wonly["int4"][0])
    assert act["int4"][0] > act["int8"][0] and act["fp16"][0] == pytest.approx(0.0)


def test_partition_avoids_int4_inputs_it_cannot_afford_and_keeps_the_budget(mlp):
    from hil.cim.error_model import ErrorModel
    from hil.cim.layers import layer_shapes
    from hil.cim.partition import build_problem, measure, partition
    from hil.cim.units import default_units

    model, s = mlp
    data = (s.x_test, s.y_test)
    calib = s.x_train[:256].clone()
    calib[0, 0, 0, 0] = 64.0
    em = ErrorModel.parametric(0.01)
    p = build_problem(model, data, layer_shapes(model, (1, 8, 8)), default_units(), em, n=6,
                      calib_x=calib, progress=False)
    assert p.act_ranges is not None and p.act_ranges["1"][0] == 64.0
    budget = 0.01
    r = partition(model, data, p, budget, em, n=6)
    first = p.options[r.choice[0]]
    print(f"first layer on {first}; measured drop {100 * r.measured_mean:.2f} pp, upper bound "
          f"{100 * r.measured_ucb:.2f} pp (budget {100 * budget:.1f} pp)")
    assert first[1] != "int4"                           # INT4 inputs would cost > 50 pp
    assert r.measured_ucb <= budget + 1e-9              # the budget, on the measured bound
    # the measured network quantizes inputs: forcing the first layer to INT4 is seen
    bad = r.choice.copy()
    bad[0] = next(j for j, o in enumerate(p.options) if o == ("sram-cim", "int4"))
    assert measure(model, data, p, bad, em, n=6).mean() > 0.5


def test_one_budget_rule_for_partition_and_search():
    import hil.cim.partition as part
    from hil.cim.search.objective import Budget, Evaluation, Objective

    assert part.within_budget is within_budget and part.upper_bound is upper_bound
    loss_pp = np.array([0.0, 2.0, 0.5, 1.5, 0.0, 1.4])    # mean 0.9 pp, bound ≈ 1.46 pp
    assert loss_pp.mean() < 1.0 < upper_bound(loss_pp)
    assert upper_bound(loss_pp) == pytest.approx(
        loss_pp.mean() + Z_ONE_SIDED_95 * loss_pp.std(ddof=1) / np.sqrt(loss_pp.size))
    # the search's feasibility is the same rule on its paired per-instance losses vs INT8
    ob = Objective.__new__(Objective)
    ob._reference = Evaluation(((8, 8),), 1.0, np.full(6, 0.95))
    ev = Evaluation(((4, 4),), 0.5, 0.95 - loss_pp / 100)
    assert ob.loss_pp(ev) == pytest.approx(0.9)
    assert ob.loss_ucb_pp(ev) == pytest.approx(upper_bound(loss_pp))
    assert not ob.feasible(ev, Budget(max_loss_pp=1.0))              # mean fits, bound does not
    assert ob.feasible(ev, Budget(max_loss_pp=1.0, z=0.0))           # z = 0: the mean alone
    assert ob.feasible(ev, Budget(max_loss_pp=1.5))
    for b in (0.5, 1.0, 1.46, 1.5):                                  # same decisions as partition
        assert ob.feasible(ev, Budget(max_loss_pp=b)) == within_budget(loss_pp, b)
    one = Evaluation(((4, 4),), 0.5, np.array([0.94]))               # noise-free: the value
    ob._reference = Evaluation(((8, 8),), 1.0, np.array([0.95]))
    assert ob.feasible(one, Budget(max_loss_pp=1.0)) and not ob.feasible(one, Budget(max_loss_pp=0.9))
    with pytest.raises(ParameterError, match="z="):
        Budget(max_loss_pp=1.0, z=-1)
