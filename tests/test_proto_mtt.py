"""mtt_readout end to end: Eq 14/15 points, Eq 7 / Eq 11 fits against the unit's physics."""
from __future__ import annotations

import numpy as np
import pytest

from hil.analysis.mtt_fit import fit_eq7
from hil.errors import ParameterError
from hil.runner import resume, run_protocol
from hil.station import Station
from hil.store import Run
from protocols.mtt_analysis import extrapolate_i_max
from protocols.mtt_readout import MttReadout
from sim_backends import SimBackend
from sim_backends.devices.mtt import i_ts_max, mtt_current_linear, node_voltage_linear, unit_current
from sim_backends.devices.transistor import TransistorParams

BIAS = {"v_read_H_V": [1.4, 1.4, 0.7, 0.7], "v_ref_G_V": [0.6, 0.55, 0.55, 0.65]}


@pytest.fixture(scope="module")
def sim():
    return SimBackend((2, 4), seed=5)


@pytest.fixture(scope="module")
def mtt_run(tmp_path_factory, sim):
    path = tmp_path_factory.mktemp("mtt") / "mtt.h5"
    # 40 µS top: every device reaches it (the default, the card's G_max 50 µS = nominal G_on, is
    # beyond the G_on of some devices; tests/test_families.py checks that default)
    run_protocol("mtt_readout", sim, path, {**BIAS, "n_points": 7, "g_high_S": 40e-6}, progress=False)
    return Run.open(path)


def ideal_eq7(g_low: float, g_high: float, n: int, vh: float, vg: float, vd: float = 0.01) -> dict:
    """Eq 7 fit of the unit's own physics (sim transistor model) on the same n-point sweep."""
    t = TransistorParams.from_card("transistor_nmos")
    g = np.linspace(g_low, g_high, n)
    idle = np.full_like(g, g_low)
    v0 = float(node_voltage_linear(np.array([g_low]), vh, vg, t)[0])
    w = (g - g_low) / (g_high - g_low)
    i_pos = mtt_current_linear(g, idle, vh, vg, vd, t, t) / i_ts_max(vh, v0, vd, t, +1)
    i_neg = mtt_current_linear(idle, g, vh, vg, vd, t, t) / i_ts_max(vh, v0, vd, t, -1)
    return fit_eq7(np.r_[-w[:0:-1], w], np.r_[i_neg[:0:-1], i_pos])


def test_eq7_fit_matches_the_unit_physics(mtt_run, sim):
    run = mtt_run
    assert run.status == "complete"
    W_h, W_b = run.read_result("W_h"), run.read_result("W_b")
    assert W_h.shape == (4, 14, 4) and run.read_result("converged").all()
    # Eq 14 per unit: |W_h| = 1 at the largest conductance of either branch, ~1 at the other's
    assert np.allclose(np.nanmax(np.abs(W_h[0]), axis=0), 1.0)
    assert np.nanmin(W_h[0]) == pytest.approx(-1, abs=0.02) and np.nanmax(W_h[0]) == pytest.approx(1, abs=0.02)
    eq7 = run.read_fit("eq7")
    assert run.dataset_attrs("fits/eq7")["units"] == ""
    exp = ideal_eq7(2.5e-6, 40e-6, 7, 1.4, 0.6)
    np.testing.assert_allclose(eq7[0], [exp["A_p"], exp["B_p"], exp["A_n"], exp["B_n"]], rtol=0.06)
    assert abs(eq7[0, 0] / eq7[0, 1] - 1) < 0.03 and abs(eq7[0, 2] / eq7[0, 3] - 1) < 0.03  # A ≈ B
    assert run.dataset_attrs("fits/eq7")["rms"][0] < 0.03              # W_b residual of the fit
    # the 64-unit spread of Fig. 4f,g is tight: per-unit fits within 10 % of the pooled one
    per_unit = run.read_fit("eq7_units")[0]
    np.testing.assert_allclose(per_unit, np.broadcast_to(eq7[0], per_unit.shape), rtol=0.10)
    # I_ts,max extrapolated to infinite G_e equals each unit's own physics: G_A+ -> infinity puts
    # its node at V_read_H; the idle G_A- (measured) and the unit's transistor spread set the rest
    t = TransistorParams.from_card("transistor_nmos")
    beta, dvt = sim.array.ref_beta_rel, sim.array.inf_dvt_V
    idle = np.median(run.read_result("G_minus_S")[:7], axis=0)
    expected = []
    for u, (r, k) in enumerate(run.read_result("units")):
        v_idle = node_voltage_linear(np.array([idle[u] / beta[r, 2 * k + 1]]), 1.4, 0.6, t)[0]
        expected.append(abs(unit_current(1.4 - dvt[r, 2 * k], v_idle - dvt[r, 2 * k + 1], 0.01, t)))
    np.testing.assert_allclose(run.read_fit("i_ts_max_A")[0, :, 0], expected, rtol=0.02)


def test_bias_trends_and_ternary_radius(mtt_run):
    eq7, eq11 = mtt_run.read_fit("eq7"), mtt_run.read_fit("eq11")
    exp = ideal_eq7(2.5e-6, 40e-6, 7, 1.4, 0.55)         # second binary bias point: same physics check
    np.testing.assert_allclose(eq7[1], [exp["A_p"], exp["B_p"], exp["A_n"], exp["B_n"]], rtol=0.08)
    assert np.isnan(eq11[:2]).all()                     # V_read_H = 2 V_T: binary, no dead zone
    r = eq11[2:, 4]
    assert 0 < r[0] < r[1] < 0.95                       # below 2 V_T a dead zone opens (Fig. 7g)
    assert mtt_run.dataset_attrs("fits/eq11")["v_t_V"] == pytest.approx(0.7)
    lines = MttReadout.summary(mtt_run)
    assert len(lines) == 4 and "ternary r" in lines[3]


def test_extrapolation_to_infinite_conductance():
    g = np.linspace(2e-6, 40e-6, 12)
    lin = 4e-4 - 2e-9 / g                               # linear region: I = I_max - c / G
    assert extrapolate_i_max(g, lin) == (pytest.approx(4e-4), "linear")
    sub = 6e-6 * np.exp(-1e-6 / (g * 0.04))             # subthreshold: ln I linear in 1/G
    im, how = extrapolate_i_max(g, -sub)
    assert how == "log" and im == pytest.approx(6e-6, rel=1e-6)


def test_kill_and_resume(tmp_path, killed_run):
    args = ("mtt_readout", "--set", "units=0,0;1,1", "--set", "n_points=4")
    killed = tmp_path / "k.h5"
    killed_run(killed, 2, *args)                       # one step per batch: 3 of 8 sweep points done
    resume(killed, progress=False)
    station = Station.load(None)
    ref = tmp_path / "ref.h5"
    run_protocol("mtt_readout", station.make_backend(), ref, {"units": "0,0;1,1", "n_points": 4},
                 station=station, progress=False)
    a, b = Run.open(killed), Run.open(ref)
    assert a.status == "complete"
    np.testing.assert_array_equal(a.read_result("I_ts_A"), b.read_result("I_ts_A"))
    np.testing.assert_array_equal(a.read_fit("eq7"), b.read_fit("eq7"))


@pytest.mark.parametrize("params, message", [
    ({"v_read_H_V": [1.4, 1.0], "v_ref_G_V": [0.6, 0.5, 0.4]}, "equal lengths or length 1"),
    ({"n_points": 3}, "n_points=3 is below the minimum 4"),
    ({"units": "0,4"}, "column 4 is outside 0..3"),
    ({"g_low_S": 30e-6, "g_high_S": 10e-6}, "g_high_S=1e-05 S must exceed g_low_S=3e-05 S"),
    ({"v_read_H_V": "0"}, r"v_read_H_V=\[0.0\] V: every value must be > 0"),
    ({"v_drain_V": "fast"}, "v_drain_V='fast' is not a valid floats"),
])
def test_bad_parameters(params, message):
    with pytest.raises(ParameterError, match=message):
        MttReadout(SimBackend((8, 8)), **params)


def test_needs_two_columns():
    with pytest.raises(ParameterError, match="at least 2 columns"):
        MttReadout(SimBackend((4, 1)))


def test_plot(mtt_run, tmp_path):
    from hil.plotting import plot_run

    assert plot_run(mtt_run.path, tmp_path / "m.png").stat().st_size > 20_000
