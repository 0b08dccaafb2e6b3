"""Transistor model: Eq 12 (linear) and Eq 13 (subthreshold), continuous (MTT Methods 4.4)."""
from __future__ import annotations

import numpy as np
import pytest

from hil.cards import load_card
from sim_backends.devices.transistor import TransistorParams, drain_current

CARDS = ["transistor_nmos", "transistor_nmos_lvt"]


@pytest.mark.parametrize("name", CARDS)
def test_card_loads_with_limits(name):
    card = load_card(name)
    assert {"v_min_V", "v_max_V", "width_min_s", "width_max_s"} <= set(card["limits"])
    assert "v_read_V" in card["read"]
    TransistorParams.from_card(card)


@pytest.mark.parametrize("name", CARDS)
def test_continuous_at_threshold(name):
    p = TransistorParams.from_card(name)
    for vds in (0.01, 0.1, 0.5):
        below = drain_current(p.v_t_V - 1e-9, vds, p)
        above = drain_current(p.v_t_V + 1e-9, vds, p)
        assert above == pytest.approx(below, rel=1e-5)


def test_linear_region_is_eq12():
    p = TransistorParams.from_card("transistor_nmos")
    vgs, vds = np.array([1.0, 1.2, 1.4]), 0.01
    bias = p.beta_A_per_V2 * (p.m - 1) * p.thermal_V ** 2 * (1 - np.exp(-vds / p.thermal_V))
    eq12 = p.beta_A_per_V2 * (vgs - p.v_t_V) * vds + bias
    assert np.allclose(drain_current(vgs, vds, p), eq12, rtol=0.02)


def test_subthreshold_is_eq13():
    p = TransistorParams.from_card("transistor_nmos")
    vgs = np.linspace(0.2, 0.6, 9)
    vds = 0.05
    t = p.thermal_V
    eq13 = (p.beta_A_per_V2 * (p.m - 1) * t ** 2 * np.exp((vgs - p.v_t_V) / (p.m * t))
            * (1 - np.exp(-vds / t)))
    assert np.allclose(drain_current(vgs, vds, p), eq13, rtol=1e-9)
    slope = np.polyfit(vgs, np.log(drain_current(vgs, vds, p)), 1)[0]
    assert slope == pytest.approx(1 / (p.m * t), rel=1e-6)


def test_saturation_and_source_drain_symmetry():
    p = TransistorParams.from_card("transistor_nmos_lvt")
    i = drain_current(0.7, np.array([0.3, 0.5, 1.0]), p)
    assert i[1] == pytest.approx(i[2])                       # saturated beyond V_gs - V_T
    assert drain_current(1.0, -0.05, p) < 0
    assert drain_current(0.0, 0.0, p) == 0.0


@pytest.mark.parametrize("name", ["ecram_wox_lipon", "rram_taox", "rram_hfox_1t1r",
                                  "transistor_nmos", "transistor_nmos_lvt"])
def test_every_device_card_has_limits_read_and_sources(name):
    card = load_card(name)
    lim = card["limits"]
    assert lim["v_min_V"] < 0 < lim["v_max_V"] and 0 < lim["width_min_s"] < lim["width_max_s"]
    assert card["read"]["v_read_V"] > 0
    assert "source" in card and card.get("kind") in ("ecram", "rram", "transistor")
