"""ECRAM device physics against REFERENCE.md §1 (MTT §2.1, Fig. 3), card ecram_wox_lipon."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hil.analysis.nonlinearity import fit_nonlinearity
from hil.cards import load_card
from sim_backends import SimBackend
from sim_backends.devices import ecram

CARD = load_card("ecram_wox_lipon")
P = ecram.EcramParams.from_card(CARD)
ON_OFF_PUBLISHED = 632.0      # REFERENCE §1 pulse switching ratio
DC_RATIO_PUBLISHED = 56.0     # REFERENCE §1 DC switching ratio at V_G = 0


def ltp_ltd(backend: SimBackend, cell=(0, 0), n: int = 180, width_s: float = 2e-3,
            v_p: float = 10.0, v_d: float = -7.0) -> np.ndarray:
    """One 180 + 180 pulse cycle on a single cell via pulse_cells; G after every pulse."""
    mask = np.zeros(backend.shape, dtype=bool)
    mask[cell] = True
    g = []
    for amp in [v_p] * n + [v_d] * n:
        backend.pulse_cells(mask, amp, width_s)
        g.append(backend.read([cell[0]], [cell[1]])[0, 0])
    return np.asarray(g)


@pytest.fixture(scope="module")
def cycles() -> list[np.ndarray]:
    b = SimBackend(shape=(2, 2), seed=0)
    return [ltp_ltd(b) for _ in range(3)]


def test_card_has_limits_and_read():
    assert CARD["read"]["v_read_V"] == 0.1
    lim = CARD["limits"]
    assert lim["v_min_V"] <= -7.0 and lim["v_max_V"] >= 10.0
    assert lim["width_min_s"] < 2e-3 < lim["width_max_s"]


def test_ltp_ltd_on_off_ratio_632(cycles):
    for g in cycles:
        ratio = g.max() / g.min()
        assert ratio == pytest.approx(ON_OFF_PUBLISHED, rel=0.15), ratio


def test_every_pulse_moves_g_the_intended_way(cycles):
    """"100 % switching accuracy" (Fig. 3e), measured with read noise."""
    for g in cycles:
        assert np.all(np.diff(g[:180]) > 0)
        assert np.all(np.diff(g[180:]) < 0)


def test_on_off_ratio_over_devices():
    b = SimBackend(shape=(1, 16), seed=5)
    mask = np.ones(b.shape, dtype=bool)
    g = []
    for amp in [10.0] * 180 + [-7.0] * 180:
        b.pulse_cells(mask, amp, 2e-3)
        g.append(b.read()[0])
    g = np.asarray(g)
    ratios = g.max(axis=0) / g.min(axis=0)
    assert np.median(ratios) == pytest.approx(ON_OFF_PUBLISHED, rel=0.15)
    assert ratios.std() > 0  # device-to-device variation exists


def test_nonlinearity_fit_a_is_stable(cycles):
    """Chen et al. fit G(P) = B(1 - e^(-P/A)) + G_min: separate, stable A for LTP and LTD."""
    a_ltp = np.array([fit_nonlinearity(g[:180], "ltp").A_pulses for g in cycles])
    a_ltd = np.array([fit_nonlinearity(g[180:], "ltd").A_pulses for g in cycles])
    assert np.all(a_ltp > 0) and np.all(a_ltd > 0)
    assert a_ltp.std() / a_ltp.mean() < 0.1 and a_ltd.std() / a_ltd.mean() < 0.1
    assert a_ltp.mean() > 1.5 * a_ltd.mean()   # asymmetric potentiation / depression


def test_dc_sweep_switching_ratio_56():
    s = np.linspace(0.0, 8.0, 81)
    v = np.concatenate([s, s[::-1][1:], -s[1:], -s[::-1][1:]])
    i_after_pos = 2 * len(s) - 2
    assert v[i_after_pos] == 0.0 and v[-1] == 0.0
    ratios = []
    for seed in range(3):
        b = SimBackend(shape=(1, 1), seed=seed)
        for cyc in range(17):
            i = b.iv_sweep((0, 0), v, compliance_A=1e-3)
            if cyc:
                ratios.append(i[i_after_pos] / i[-1])
    assert np.mean(ratios) == pytest.approx(DC_RATIO_PUBLISHED, rel=0.15)


def test_dc_window_grows_with_sweep_amplitude():
    """Fig. S7: larger sweep amplitude -> larger switching window."""
    out = []
    for vmax in (6.0, 8.0):
        s = np.linspace(0.0, vmax, int(vmax * 10) + 1)
        v = np.concatenate([s, s[::-1][1:], -s[1:], -s[::-1][1:]])
        b = SimBackend(shape=(1, 1), seed=1)
        b.iv_sweep((0, 0), v, 1e-3)
        i = b.iv_sweep((0, 0), v, 1e-3)
        out.append(i[2 * len(s) - 2] / i[-1])
    assert out[1] > out[0]


def _single_step(v: float, width_s: float, x0: float = 0.5) -> float:
    dev = ecram.sample_devices((1,), dataclasses.replace(P, g_sigma=0, floor_sigma=0, k_sigma=0,
                                                        nu_sigma=0), np.random.default_rng(0))
    x = np.array([x0], dtype=np.float32)
    x1 = ecram.update(x, np.float32(v), width_s, dev, P, rng=None)
    return float(ecram.conductance(x1, dev)[0] - ecram.conductance(x, dev)[0])


def test_dg_exponential_in_amplitude_and_increasing_with_width():
    amps = np.array([6.0, 7.0, 8.0, 9.0, 10.0])
    dg = np.array([_single_step(a, 1e-4) for a in amps])
    assert np.all(np.diff(dg) > 0)
    slope = np.polyfit(amps, np.log(dg), 1)[0]
    assert slope == pytest.approx(1.0 / P.v0_p_V, rel=0.05)       # ln dG linear in V
    dgd = np.array([_single_step(-a, 1e-4) for a in amps])
    assert np.all(dgd < 0) and np.all(np.diff(-dgd) > 0)
    widths = [0.5e-3, 1e-3, 2e-3, 5e-3]
    dgw = [_single_step(10.0, w) for w in widths]
    assert np.all(np.diff(dgw) > 0)


def test_saturates_toward_the_bounds():
    assert _single_step(10.0, 2e-3, x0=0.9) < 0.2 * _single_step(10.0, 2e-3, x0=0.1)
    assert -_single_step(-7.0, 2e-3, x0=0.05) < 0.2 * -_single_step(-7.0, 2e-3, x0=0.8)


def test_non_volatile_at_zero_gate_bias():
    assert _single_step(0.0, 1.0) == 0.0


def test_on_conductance_scales_as_w_over_l():
    """Eq 1: G_on = g W / L."""
    ref = ecram.EcramParams.from_card(CARD).g_on_S
    for w_um, l_um in ((20, 10), (10, 20), (40, 5)):
        card = dict(CARD, geometry={"width_m": w_um * 1e-6, "length_m": l_um * 1e-6})
        assert ecram.EcramParams.from_card(card).g_on_S == pytest.approx(ref * w_um / l_um)


def test_sixteen_states_stay_distinguishable_over_retention_window():
    """Fig. 3i: 16 states, read at 0.1 V, held over the retention window."""
    b = SimBackend(shape=(1, 16), seed=2)
    targets = np.linspace(3e-6, 45e-6, 16)          # as write-verify would program them
    b.array.x[0] = ecram.state_from_conductance(targets, b.array.dev.take((0, slice(None))))
    window = CARD["retention"]["window_s"]
    reads = []
    for t in np.geomspace(1.0, window, 9):
        b.clock.set(t)
        reads.append(b.read()[0])
    reads = np.asarray(reads)          # (times, states)
    order = np.argsort(reads[0])
    lo, hi = reads.min(axis=0)[order], reads.max(axis=0)[order]
    assert np.all(lo[1:] > hi[:-1])    # ranges of adjacent states never overlap
    assert np.all(np.abs(reads[-1] / reads[0] - 1) < 0.05)


def test_read_noise_present_and_small():
    b = SimBackend(shape=(1, 1), seed=0)
    b.array.x[:] = 0.5
    g = np.array([b.read()[0, 0] for _ in range(200)])
    rel = g.std() / g.mean()
    assert 0 < rel < 5 * P.read_rel_sigma
