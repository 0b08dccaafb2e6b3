"""Fast paths of the RRAM / 1T1R / MTT simulation agree with the direct formulas they replace."""
from __future__ import annotations

import numpy as np
import pytest

from sim_backends.arrays.rram_1t1r import _line_table, _reference_read
from sim_backends.devices import rram
from sim_backends.devices.drift import ReferenceDrift, drift_reference
from sim_backends.devices.mtt import node_voltage, node_voltage_newton
from sim_backends.devices.transistor import (TransistorParams, drain_current,
                                             forward_current_and_slope)

TR = TransistorParams.from_card("transistor_nmos_lvt")
HFOX = rram.RramParams.from_card("rram_hfox_1t1r")
TAOX = rram.RramParams.from_card("rram_taox")


def test_fast_sinh_matches_numpy():
    x = np.concatenate([np.linspace(-30, 30, 20001), np.geomspace(1e-30, 0.6, 5000),
                        [0.0, -0.0]]).astype(np.float32)
    got = rram.sinh(x)
    assert got.dtype == np.float32
    ref = np.sinh(x.astype(np.float64))
    assert np.all(np.abs(got - ref) <= 4e-7 * np.abs(ref))
    assert np.all(np.signbit(got) == np.signbit(x))


def _series_reference(dv, v_gs, g, tr):
    """The closed-form series solve written out per cell in float64."""
    a = np.abs(dv)
    v_ov = v_gs - tr.v_t_V
    i_lim = np.abs(drain_current(v_gs, a, tr))
    v_cur = np.minimum(a, i_lim / g)
    b = tr.beta_A_per_V2 * np.maximum(v_ov, 0) + g
    u = (b - np.sqrt(np.maximum(b * b - 2 * tr.beta_A_per_V2 * g * a, 0))) / tr.beta_A_per_V2
    triode = (v_ov > 0) & (a - v_cur < v_ov)
    return np.sign(dv) * np.where(triode, a - u, v_cur)


def test_line_table_series_solve_matches_per_cell():
    rng = np.random.default_rng(0)
    shape = (24, 40)
    wl = rng.choice([0.0, 1.2, 2.25, 3.0], size=(24, 1)).astype(np.float32)
    sl = rng.choice([0.0, 1.5], size=(24, 1)).astype(np.float32)
    bl = rng.choice([0.0, 0.5, 1.5], size=(1, 40)).astype(np.float32)
    g = (rng.uniform(0.2e-6, 60e-6, shape)).astype(np.float32)
    gather, (dv, v_gs) = _line_table(wl, bl, sl, shape)
    assert dv.size <= 4 * 2 * 3
    lines = [gather(q) for q in rram.series_lines(dv, v_gs, TR)]
    got = rram.series_solve(*lines, g, TR)
    dv_c = np.broadcast_to(bl - sl, shape)
    vgs_c = np.where(dv_c >= 0, wl - sl, wl - bl)
    ref = _series_reference(dv_c.astype(np.float64), vgs_c.astype(np.float64), g.astype(float), TR)
    assert np.allclose(got, ref, rtol=2e-5, atol=1e-7)
    # (values, code) form of a per-cell BL, as the row phases use it
    t = rng.random(shape) < 0.5
    gather2, (dv2, _) = _line_table(np.float32(2.25), (np.float32([0.4, 1.2]), t.view(np.uint8)),
                                    np.float32(0.0), shape)
    assert dv2.size == 2
    assert np.array_equal(gather2(dv2), np.where(t, np.float32(1.2), np.float32(0.4)))


def test_update_matches_direct_formula():
    rng = np.random.default_rng(1)
    for p in (HFOX, TAOX):
        w = rng.random(5000).astype(np.float32)
        v = rng.uniform(-1.6, 1.6, 5000).astype(np.float32)
        v[:50] = 0.0
        w_cc = rng.random(5000).astype(np.float32)
        got = rram.update(w, v, 1e-5, w_cc, p, None)
        v64, w64, cc64 = v.astype(float), w.astype(float), w_cc.astype(float)
        pos = v64 > 0
        z = np.abs(v64) / np.where(pos, p.v0_set_V, p.v0_reset_V)
        z = np.where(pos, z, np.maximum(z - p.reset_gap_factor * (1 - w64), 0))
        dose = np.where(pos, p.k_set_per_s, p.k_reset_per_s) * np.sinh(np.minimum(z, 80)) * 1e-5
        decay = np.exp(-dose)
        ref = np.where(pos, np.where(w64 < cc64, cc64 - (cc64 - w64) * decay, w64),
                       np.where(v64 < 0, w64 * decay, w64))
        assert np.allclose(got, ref, rtol=0, atol=2e-6)


def test_forward_current_and_slope_match_drain_current():
    v = np.linspace(0.0, 1.4, 1401)
    for v_gs in (0.2, 0.45, 0.6, 0.7, 1.5):
        i, d = forward_current_and_slope(v_gs, v, TR)
        assert np.allclose(i, drain_current(v_gs, v, TR), rtol=1e-12, atol=1e-22)
        h = 1e-7
        num = (drain_current(v_gs, v[1:-1] + h, TR) - drain_current(v_gs, v[1:-1] - h, TR)) / (2 * h)
        assert np.allclose(d[1:-1], num, rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("v_h, v_ref", [(0.8, 0.7), (1.4, 0.6), (0.3, 0.9), (2.0, 0.4)])
def test_newton_node_matches_bisection(v_h, v_ref):
    rng = np.random.default_rng(2)
    w = rng.random(4000)
    g_on = TAOX.g_on_S * np.exp(0.05 * rng.standard_normal(4000))
    g_off = TAOX.g_off_S * np.exp(0.05 * rng.standard_normal(4000))
    w[:3] = (0.0, 1.0, 0.5)
    mem = lambda v: rram.current(w, v, g_on, g_off, TAOX.v_nl_V)
    ref = node_voltage(mem, w.shape, v_h, v_ref, TR)
    g_f = rram.filament_conductance(w, g_on, g_off)
    got = node_voltage_newton(lambda v: rram.current_and_slope(w, v, g_f, TAOX.v_nl_V),
                              w.shape, v_h, v_ref, TR)
    assert np.allclose(got, ref, rtol=0, atol=1e-9)
    w32, gf32 = w.astype(np.float32), g_f.astype(np.float32)
    got32 = node_voltage_newton(lambda v: rram.current_and_slope(w32, v, gf32, TAOX.v_nl_V),
                                w.shape, v_h, v_ref, TR, np.float32)
    assert got32.dtype == np.float32
    assert np.allclose(got32, ref, rtol=0, atol=2e-6 * v_h)


def test_reference_read_matches_drift_reference():
    rng = np.random.default_rng(3)
    model = ReferenceDrift.from_card("drift_reference")
    shape = (30, 50)
    g = rng.uniform(1e-6, 45e-6, shape).astype(np.float32)
    z_d = rng.standard_normal(shape).astype(np.float32)
    z_r = rng.standard_normal(shape).astype(np.float32)
    clip = (0.0, 88.2)
    now = 1000.0
    for t_prog in (np.full(shape, 10.0), rng.choice([np.nan, 0.0, 999.9, 1000.0, 5.0], shape),
                   rng.uniform(0, 2000, shape)):
        got = _reference_read(g, now, t_prog, model, z_d, z_r, clip)
        with np.errstate(invalid="ignore"):              # t < 0 (programmed "later") cells
            ref = 1e-6 * drift_reference(g * 1e6, now - t_prog, model, z_d, z_r, clip)
        assert np.allclose(got, ref, rtol=1e-5, atol=1e-12)


def test_blocked_pulse_matches_direct_model(monkeypatch):
    """Row-blocked, line-table `_pulse` == the per-cell composition of the public functions,
    with the same random stream (draw order kept)."""
    from hil.backend import Lines
    from sim_backends import SimBackend
    from sim_backends.arrays import rram_1t1r

    blocks = rram_1t1r._blocks
    monkeypatch.setattr(rram_1t1r, "_blocks", lambda shape, cells=64: blocks(shape, cells))
    b = SimBackend(shape=(20, 16), array="1t1r", seed=5)
    arr = b.array
    arr.w[:] = np.random.default_rng(0).random(arr.shape).astype(np.float32)
    wl = np.linspace(0.5, 3.0, 20)
    bl = np.where(np.arange(16) % 2 == 0, 1.5, 0.4)
    sl = np.where(np.arange(20) % 3 == 0, 1.2, 0.0)
    ref_rng = np.random.default_rng()
    ref_rng.bit_generator.state = arr.rng.bit_generator.state
    w0 = arr.w.copy()
    b.apply_pulse(Lines(wl, bl, source=sl), 1e-6)
    f32 = np.float32
    wl_, bl_, sl_ = wl.astype(f32)[:, None], bl.astype(f32)[None, :], sl.astype(f32)[:, None]
    dv = np.broadcast_to(bl_ - sl_, w0.shape)
    v_gs = np.where(dv >= 0, wl_ - sl_, wl_ - bl_)
    i_cap = np.abs(drain_current(v_gs, np.abs(dv), arr.tr))
    g = rram.filament_conductance(w0, arr.g_on_S, arr.g_off_S)
    v_cell = rram.series_cell_voltage(dv, v_gs, g, arr.tr)
    w_cc = rram.compliance_state(i_cap, arr.g_on_S, arr.g_off_S, arr.params, ref_rng)
    ref = rram.update(w0, v_cell, 1e-6, w_cc, arr.params, ref_rng)
    assert np.abs(ref - w0).max() > 1e-3                   # the pulse does something
    assert np.allclose(arr.w, ref, rtol=0, atol=2e-6)
