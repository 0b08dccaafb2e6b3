"""Weight <-> conductance mappings, tiling over several arrays, network maps."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from hil.cards import load_card
from hil.errors import ParameterError
from hil.nn.mapping import (DifferentialMapping, MTTMapping, ReferenceMapping, make_mapping,
                            range_from_card)
from hil.nn.netmap import NetworkMap, layer_matrix, with_weights
from hil.nn.tiling import TilePlan, plan_tiles, resnet20_map_shapes

G = (5e-6, 40e-6)
RNG = np.random.default_rng(0)


@pytest.mark.parametrize("cls", [DifferentialMapping, ReferenceMapping, MTTMapping])
def test_round_trip_exact_and_with_small_conductance_error(cls):
    m = cls(*G)
    W = RNG.uniform(-0.8, 0.8, (7, 5))
    w_max = 1.0 if cls is MTTMapping else 0.8
    Gm = m.encode(W, w_max)
    assert Gm.shape == m.map_shape(7, 5)
    assert np.all(Gm >= G[0] - 1e-18) and np.all(Gm <= G[1] + 1e-18)
    np.testing.assert_allclose(m.decode(Gm, w_max), W, atol=1e-12)
    # 0.1 µS error on every device: weight error bounded by that fraction of the range
    noisy = Gm + RNG.normal(0, 0.1e-6, Gm.shape)
    err = np.abs(m.decode(noisy, w_max) - W)
    assert err.max() < 6 * 0.1e-6 / (G[1] - G[0]) * w_max * 2 * 2


def test_differential_layout_and_clipping():
    m = DifferentialMapping(*G)
    Gm = m.encode(np.array([[1.0, -1.0, 2.0]]), 1.0)     # out=1, in=3 -> (3, 2)
    np.testing.assert_allclose(Gm, [[G[1], G[0]], [G[0], G[1]], [G[1], G[0]]])


def test_reference_column_cancels_common_row_shift():
    m = ReferenceMapping(*G)
    W = RNG.uniform(-1, 1, (4, 6))
    Gm = m.encode(W, 1.0)
    assert np.all(Gm[:, -1] == m.g_ref_S)
    shifted = Gm + np.linspace(-2e-6, 2e-6, 6)[:, None]   # a common shift per row
    np.testing.assert_allclose(m.decode(shifted, 1.0), W, atol=1e-12)


def test_mtt_mapping_is_eq14_and_eq15():
    m = MTTMapping(2e-6, 42e-6)
    Gm = m.encode(np.array([[0.5], [-0.25], [0.0]]))        # 3 units in one row
    np.testing.assert_allclose(Gm[0], [22e-6, 2e-6, 2e-6, 12e-6, 2e-6, 2e-6])
    from hil.analysis.mtt_fit import hidden_weight
    g_e = np.maximum(Gm[0, 0::2], Gm[0, 1::2])
    sign = np.sign(Gm[0, 0::2] - Gm[0, 1::2]) + (Gm[0, 0::2] == Gm[0, 1::2])
    np.testing.assert_allclose(m.decode(Gm)[:, 0], hidden_weight(g_e, sign, 2e-6, 42e-6))
    np.testing.assert_allclose(m.binary_from_currents(np.array([[2e-6, -1e-6]]), 4e-6),
                               [[0.5], [-0.25]])


def test_mapping_errors_name_the_value():
    with pytest.raises(ParameterError, match="g_min_S"):
        DifferentialMapping(40e-6, 5e-6)
    with pytest.raises(ParameterError, match="allowed: differential, reference, mtt"):
        make_mapping("quad", *G)
    with pytest.raises(ParameterError, match="w_max"):
        DifferentialMapping(*G).encode(np.ones((2, 2)), 0.0)
    with pytest.raises(ParameterError, match="2-D"):
        DifferentialMapping(*G).encode(np.ones(3), 1.0)


def test_range_from_cards():
    assert range_from_card(load_card("rram_hfox_1t1r")) == (5e-6, 40e-6)
    lo, hi = range_from_card(load_card("ecram_wox_lipon"))
    assert 0 < lo < hi <= 50e-6


def test_tiling_round_trip_and_alignment():
    shapes = {"a": (70, 46), "b": (20, 10), "c": (33, 100)}
    plan = plan_tiles(shapes, (32, 24), col_align=2)
    maps = {k: RNG.random(s) for k, s in shapes.items()}
    arrays = plan.scatter(maps)
    assert arrays.shape == (plan.n_arrays, 32, 24)
    back = plan.gather(arrays)
    for k in shapes:
        np.testing.assert_array_equal(back[k], maps[k])
    # stacked form, JSON form, no overlaps, and column pairs never split
    assert plan.gather(arrays.reshape(-1, 24))["c"].shape == (33, 100)
    plan2 = TilePlan.from_json(plan.to_json())
    assert plan2 == plan
    assert plan.used_mask().sum() == sum(r * c for r, c in shapes.values())
    assert all(p.src_col0 % 2 == 0 and p.cols % 2 == 0 for p in plan.placements)
    assert np.isnan(arrays[~plan.used_mask()]).all()


def test_resnet20_fits_five_256x512_arrays():
    shapes = resnet20_map_shapes()
    assert sum(r * c for r, c in shapes.values()) == 2 * 268_336    # differential pairs
    plan = plan_tiles(shapes, (256, 512), max_arrays=5)
    assert plan.n_arrays == 5 and plan.utilization() > 0.8
    with pytest.raises(ParameterError, match="need 5 arrays"):
        plan_tiles(shapes, (256, 512), max_arrays=4)


def test_tiling_errors():
    with pytest.raises(ParameterError, match="multiple of"):
        plan_tiles({"x": (4, 5)}, (8, 8), col_align=2)
    plan = plan_tiles({"x": (4, 4)}, (8, 8))
    with pytest.raises(ParameterError, match="shape"):
        plan.scatter({"x": np.zeros((3, 4))})
    with pytest.raises(ParameterError, match="do not match the plan"):
        plan.gather(np.zeros((2, 8, 8)))


@pytest.mark.parametrize("kind", ["differential", "reference"])
def test_network_map_round_trip_linear_and_conv(kind):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 36, 10))
    net = NetworkMap.build(model, kind, G, (40, 32))
    assert net.layers == ("0", "2")
    arrays = net.target_arrays(model)
    w = net.weights(arrays)
    for name, mod in model.named_modules():
        if name in w:
            np.testing.assert_allclose(w[name], layer_matrix(mod), atol=1e-9)
    clone = with_weights(model, w)
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(clone(x), model.eval()(x), atol=1e-5, rtol=1e-5)
    net2 = NetworkMap.from_json(net.to_json())
    assert json.loads(net2.to_json()) == json.loads(net.to_json())
