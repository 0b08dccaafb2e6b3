"""RRAM models (MTT §2.2 TaOx; VeRA+ §IV-F HfOx) and the 1T1R array (V/2, V/3)."""
from __future__ import annotations

import numpy as np
import pytest

from hil.backend import Lines
from hil.cards import load_card
from sim_backends import SimBackend
from sim_backends.devices import rram
from sim_backends.devices.transistor import TransistorParams

TAOX = rram.RramParams.from_card("rram_taox")
HFOX_CARD = load_card("rram_hfox_1t1r")


def test_taox_on_off_about_75():
    g = rram.read_conductance(np.array([0.0, 1.0]), 0.1, TAOX.g_on_S, TAOX.g_off_S, TAOX.v_nl_V)
    assert g[1] / g[0] == pytest.approx(75, rel=0.15)


def test_taox_nonlinear_read_at_high_resistance():
    i = lambda w, v: rram.current(w, v, TAOX.g_on_S, TAOX.g_off_S, TAOX.v_nl_V)
    assert i(1.0, 0.4) / i(1.0, 0.1) == pytest.approx(4.0)           # LRS ohmic
    assert i(0.0, 0.4) / i(0.0, 0.1) > 4.8                           # HRS super-linear
    assert i(0.0, -0.3) == pytest.approx(-i(0.0, 0.3))


def test_taox_stochastic_set():
    b = SimBackend(shape=(1, 64), array="1t1r", device="rram_taox", seed=0)
    g0 = b.array.conductance()
    b.pulse_cells(np.ones((1, 64), bool), 1.2, 1e-5)
    dg = b.array.conductance() - g0
    assert np.all(dg > 0)
    assert dg.std() / dg.mean() > 0.3


def test_taox_sixteen_states_by_write_verify():
    """16 distinct states across the ~75x window (Fig. S19b-e) by a simple write-verify."""
    b = SimBackend(shape=(16, 1), array="1t1r", device="rram_taox", seed=1)   # one cell per row
    target = np.geomspace(2e-6, 64e-6, 16)
    tol = 0.03 * target
    amp = np.full(16, 0.9)
    last = np.zeros(16)
    for _ in range(1000):
        g = b.read()[:, 0]
        direction = np.where(g < target - tol, 1.0, np.where(g > target + tol, -1.0, 0.0))
        if not direction.any():
            break
        amp = np.where(direction == last, np.minimum(amp + 0.02, 3.0), 0.9)  # Fig. S8 ladder
        last = direction
        b.pulse_cells((direction != 0)[:, None], (direction * amp)[:, None], 1e-5)
    g = b.array.conductance()[:, 0]
    assert np.all(np.abs(g - target) <= 1.5 * tol)
    assert np.all(np.diff(g) > 0)


def _wl_for(g_S: np.ndarray, tr: TransistorParams, v_hold: float) -> np.ndarray:
    """Word-line voltage whose saturation current G V_hold sets level G (compliance)."""
    return tr.v_t_V + np.sqrt(2 * g_S * v_hold / tr.beta_A_per_V2)


def test_hfox_compliance_levels_5_to_40_uS():
    levels = np.array(HFOX_CARD["levels"]["g_S"])
    b = SimBackend(shape=(8, 64), array="1t1r", seed=0)
    tr = b.array.tr
    wl = _wl_for(levels, tr, HFOX_CARD["switching"]["v_hold_V"])
    b.apply_pulse(Lines(wl, np.full(64, 1.5), source=0.0), 1e-6)
    g = b.array.conductance()                 # at 0.2 V, before drift
    means = g.mean(axis=1)
    assert np.allclose(means, levels, rtol=0.1)
    assert np.all(np.diff(means) > 0)


def test_hfox_reset_gradual():
    b = SimBackend(shape=(1, 4), array="1t1r", seed=0)
    b.pulse_cells(np.ones((1, 4), bool), 1.5, 1e-6)
    g = [b.array.conductance().mean()]
    for _ in range(5):
        b.pulse_cells(np.ones((1, 4), bool), -1.5, 1e-6)
        g.append(b.array.conductance().mean())
    assert np.all(np.diff(g) < 0) and g[1] > 0.5 * g[0]


@pytest.mark.parametrize("device", ["rram_hfox_1t1r", "rram_taox"])
def test_v3_scheme_disturbs_less_than_v2(device):
    dist = {}
    for scheme in ("V/2", "V/3"):
        b = SimBackend(shape=(2, 8), array="1t1r", device=device, seed=0)
        b.array.set_option("scheme", scheme)
        b.array.w[:] = 0.5
        mask = np.zeros((2, 8), bool)
        mask[0, 0] = True
        amp = 2.5 if device == "rram_hfox_1t1r" else 1.2   # HfOx: top of the ISPP ladder
        for a in (amp, -amp):
            b.pulse_cells(mask, a, 1e-5)
        dist[scheme] = np.abs(b.array.w[0, 1:] - 0.5).max()
        assert np.all(b.array.w[1] == 0.5)        # unselected row: WL off, untouched
    assert dist["V/3"] < dist["V/2"]


def test_rram_iv_sweep_switches_and_respects_compliance():
    b = SimBackend(shape=(1, 1), array="1t1r", device="rram_taox", seed=0)
    v = np.concatenate([np.linspace(0, 1.5, 31), np.linspace(1.5, -1.5, 61), np.linspace(-1.5, 0, 31)])
    i = b.iv_sweep((0, 0), v, compliance_A=50e-6)
    assert np.max(np.abs(i)) <= 50e-6
    k0 = 10                    # 0.5 V on the way up vs on the way down (set happened)
    k1 = 31 + 20
    assert v[k0] == pytest.approx(v[k1]) and i[k1] > 2 * i[k0]


def test_1t1r_resume_is_bit_identical_and_faults_apply():
    def run(b: SimBackend, steps: int) -> list[np.ndarray]:
        rng = np.random.default_rng(9)
        out = []
        for _ in range(steps):
            mask = rng.random(b.shape) < 0.5
            b.pulse_cells(mask, np.where(rng.random(b.shape) < 0.5, 1.4, -1.6), 1e-6)
            b.wait(100.0)
            out.append(b.read())
        return out
    faults = {"stuck_on": [[0, 1]], "dead_cols": [2]}
    a = SimBackend(shape=(4, 5), array="1t1r", seed=4, faults=faults)
    run(a, 2)
    state = a.state_dict()
    tail_a = run(a, 3)
    b = SimBackend(shape=(4, 5), array="1t1r", seed=4, faults=faults)
    b.load_state_dict(state)
    tail_b = run(b, 3)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(tail_a, tail_b))
    g = tail_b[-1]
    assert np.all(g[:, 2] == 0)
    assert g[0, 1] == pytest.approx(b.array.g_on_S[0, 1], rel=1e-6)
