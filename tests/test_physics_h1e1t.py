"""H-1E1T selective programming (REFERENCE §2, MTT Table S2, Fig. 5) and SimBackend contract."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hil.backend import Lines
from hil.cards import load_card
from hil.errors import ParameterError
from sim_backends import SimBackend, make_sim_backend
from sim_backends.devices import ecram

CARD = load_card("ecram_wox_lipon")
V_P, V_D, V_SS = CARD["h1e1t"]["v_p_V"], CARD["h1e1t"]["v_d_V"], CARD["h1e1t"]["v_ss_V"]
W = 5e-3   # Fig. 5b


def fresh(shape=(3, 3), seed=0) -> SimBackend:
    b = SimBackend(shape=shape, seed=seed)
    b.array.x[:] = 0.3          # mid-range state so both directions are visible
    return b


def true_g(b: SimBackend) -> np.ndarray:
    """Conductance of the ionic state (no read noise, no retention relaxation)."""
    return ecram.conductance(b.array.x, b.array.dev).astype(np.float64)


def test_fig5b_voltages():
    assert (V_P, V_D) == (10.0, 6.0)


@pytest.mark.parametrize("eg, tg, expect", [
    (V_P, 0.0, "up"),          # potentiate, selected: V_gc ~ V_P
    (V_P, V_SS, "half"),       # potentiate, half-selected: V_P - V_D
    (0.0, V_SS, "down"),       # depress, selected: -V_D
    (0.0, 0.0, "none"),        # depress, unselected: ~0
])
def test_table_s2_single_unit(eg, tg, expect):
    """Each Table S2 stage on one H-1E1T unit with V_ED = V_D, V_ES = 0."""
    ref = fresh((1, 1))
    ref.apply_pulse(Lines(np.array([V_P]), np.array([0.0]), V_D, 0.0), W)
    dg_selected = true_g(ref)[0, 0] - true_g(fresh((1, 1)))[0, 0]
    b = fresh((1, 1))
    g0 = true_g(b)[0, 0]
    b.apply_pulse(Lines(np.array([eg]), np.array([tg]), V_D, 0.0), W)
    dg = true_g(b)[0, 0] - g0
    if expect == "up":
        assert dg > 0
    elif expect == "down":
        assert dg < 0
    elif expect == "half":
        assert 0 <= dg < 0.02 * dg_selected
    else:
        assert abs(dg) < 1e-6 * dg_selected


def test_array_pulse_selected_half_and_unselected():
    """Row 0 col 0 selected; row-mates half-selected; other rows (ED, EG at 0) untouched."""
    b = fresh()
    g0 = true_g(b)
    b.apply_pulse(Lines(np.array([V_P, 0, 0]), np.array([0.0, V_SS, V_SS]),
                        np.array([V_D, 0, 0]), 0.0), W)
    dg = true_g(b) - g0
    assert dg[0, 0] > 0
    assert np.all(np.abs(dg[0, 1:]) < 0.02 * dg[0, 0])
    assert np.all(dg[1:] == 0)
    g1 = true_g(b)
    b.apply_pulse(Lines(np.zeros(3), np.array([V_SS, 0, 0]), np.array([V_D, 0, 0]), 0.0), W)
    dg = true_g(b) - g1
    assert dg[0, 0] < 0
    assert np.all(np.abs(dg[0, 1:]) < 1e-6 * abs(dg[0, 0]))
    assert np.all(dg[1:] == 0)


def test_disturb_emerges_from_voltages():
    """With a common ED at V_D, a TG-on cell in an unselected row (EG = 0) is depressed: the
    simulator does not know 'selected' - only voltages."""
    b = fresh()
    g0 = true_g(b)
    b.apply_pulse(Lines(np.array([V_P, 0, 0]), np.array([0.0, V_SS, V_SS]), V_D, 0.0), W)
    assert np.all(true_g(b)[1:, 1:] < g0[1:, 1:])


def test_pulse_cells_programs_only_the_mask_beyond_half_select():
    b = fresh((4, 4))
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 2] = mask[3, 0] = True
    g0 = true_g(b)
    b.pulse_cells(mask, 10.0, 2e-3)
    dg = true_g(b) - g0
    sel = dg[mask]
    assert np.all(sel > 0)
    half = np.zeros((4, 4), bool)
    half[[1, 3]] = True
    half &= ~mask
    assert np.all(np.abs(dg[half]) < 0.02 * sel.min())
    assert np.all(dg[~(half | mask)] == 0)
    g1 = true_g(b)
    b.pulse_cells(mask, -7.0, 2e-3)
    dg = true_g(b) - g1
    assert np.all(dg[mask] < 0)
    assert np.all(np.abs(dg[~mask]) < 1e-6 * np.abs(dg[mask]).min())


def test_pulse_cells_per_cell_amplitudes_and_signs():
    b = fresh((2, 3))
    amp = np.array([[10.0, 8.0, -7.0], [-6.0, 9.0, 0.0]])
    mask = amp != 0
    g0 = true_g(b)
    b.pulse_cells(mask, amp, 2e-3)
    dg = true_g(b) - g0
    assert dg[0, 0] > dg[0, 1] > 0 and dg[1, 1] > 0
    assert dg[0, 2] < 0 and dg[1, 0] < 0
    assert abs(dg[1, 2]) < 0.02 * dg[1, 1]


def test_clock_advances_by_pulse_time():
    b = fresh((4, 4))
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = mask[2, 1] = True               # two rows -> two physical pulses
    b.pulse_cells(mask, 10.0, 2e-3)
    assert b.clock.now() == pytest.approx(4e-3)
    b.apply_pulse(Lines(np.zeros(4), np.zeros(4)), 1e-3)
    assert b.clock.now() == pytest.approx(5e-3)


def _run(b: SimBackend, steps: int) -> list[np.ndarray]:
    out = []
    rng = np.random.default_rng(7)
    for _ in range(steps):
        mask = rng.random(b.shape) < 0.4
        b.pulse_cells(mask, np.where(rng.random(b.shape) < 0.5, 10.0, -7.0), 2e-3)
        b.wait(10.0)
        out.append(b.read())
    return out


def test_resume_is_bit_identical():
    a = SimBackend(shape=(5, 6), seed=11)
    _run(a, 3)
    state = a.state_dict()
    json.dumps(state["rng"])
    assert state["x"].dtype == np.float32
    tail_a = _run(a, 4)
    b = SimBackend(shape=(5, 6), seed=11)
    b.load_state_dict(state)
    tail_b = _run(b, 4)
    assert all(np.array_equal(x, y) for x, y in zip(tail_a, tail_b))
    assert b.clock.now() == a.clock.now()


def test_same_seed_reproducible_different_seed_not():
    r1 = _run(SimBackend(shape=(3, 3), seed=1), 2)[-1]
    r2 = _run(SimBackend(shape=(3, 3), seed=1), 2)[-1]
    r3 = _run(SimBackend(shape=(3, 3), seed=2), 2)[-1]
    assert np.array_equal(r1, r2) and not np.array_equal(r1, r3)


def test_load_state_from_other_array_is_refused():
    state = SimBackend(shape=(3, 3), seed=1).state_dict()
    with pytest.raises(ParameterError, match="cannot load"):
        SimBackend(shape=(3, 3), seed=2).load_state_dict(state)


def test_faults_stuck_and_dead_lines():
    b = SimBackend(shape=(4, 4), seed=0, faults={"stuck_on": [[0, 0]], "stuck_off": [[1, 1]],
                                                 "dead_rows": [2], "dead_cols": [3]})
    g = b.read()
    dev = b.array.dev
    assert g[0, 0] == pytest.approx(dev.g_on_S[0, 0], rel=1e-3)
    assert g[1, 1] == pytest.approx(dev.g_on_S[1, 1] * dev.floor[1, 1], rel=1e-2)
    assert np.all(g[2] == 0) and np.all(g[:, 3] == 0)
    x0 = b.array.x.copy()
    b.pulse_cells(np.ones((4, 4), bool), 10.0, 2e-3)
    assert np.all(b.array.x[2] == x0[2]) and np.all(b.array.x[:, 3] == x0[:, 3])
    assert b.array.x[3, 0] > x0[3, 0]


def test_random_fault_fraction_is_seeded():
    f = {"stuck_off_fraction": 0.1}
    a = SimBackend(shape=(32, 32), seed=3, faults=f).array.faults.stuck_off
    b = SimBackend(shape=(32, 32), seed=3, faults=f).array.faults.stuck_off
    assert np.array_equal(a, b) and 40 < a.sum() < 170


def test_mtt_read_shapes_and_wiring():
    b = SimBackend(shape=(2, 6), seed=0)
    b.array.x[:] = 0.001
    b.array.x[0, 2] = 0.9          # unit (0, 1): G_A+ high -> positive current
    b.array.x[1, 5] = 0.9          # unit (1, 2): G_A- high -> negative current
    i = b.mtt_read(None, 1.4, 0.6, 0.01)
    assert i.shape == (2, 3)
    assert i[0, 1] > 0 and i[1, 2] < 0
    assert float(b.mtt_read((0, 1), 1.4, 0.6, 0.01)) == pytest.approx(i[0, 1], rel=1e-3)


def test_make_sim_backend_from_station_table():
    b = make_sim_backend({"type": "sim", "array": "h1e1t", "device": "ecram_wox_lipon",
                          "rows": 4, "cols": 8, "seed": 3, "faults": {"dead_rows": [1]}})
    assert b.shape == (4, 8) and b.kind == "sim" and b.device["name"] == "ecram_wox_lipon"
    r = make_sim_backend({"type": "sim", "array": "1t1r", "rows": 2, "cols": 2, "scheme": "V/3"})
    assert r.array.scheme == "V/3"


@pytest.mark.parametrize("opts, match", [
    ({"array": "crossbar"}, "array type 'crossbar'"),
    ({"type": "lab"}, "needs 'sim'"),
    ({"colour": 1}, "unknown sim backend keys"),
    ({"rows": 0}, "rows = 0; allowed: an integer in 1..65536"),
    ({"device": "nonexistent"}, "not found"),
    ({"array": "1t1r", "device": "ecram_wox_lipon"}, "array = '1t1r' does not fit device 'ecram_wox_lipon'"),
    ({"faults": {"stuck_on": [[9, 9]]}}, "outside"),
    ({"array": "1t1r", "scheme": "V/4"}, "scheme"),
])
def test_bad_options_raise_clear_errors(opts, match):
    with pytest.raises(ParameterError, match=match):
        make_sim_backend({"rows": 2, "cols": 2, **opts})


def test_bad_pulse_arguments():
    b = SimBackend(shape=(2, 2))
    with pytest.raises(ParameterError, match="bool array of shape"):
        b.pulse_cells(np.ones((3, 3), bool), 10.0, 1e-3)
    with pytest.raises(ParameterError, match="does not broadcast"):
        b.pulse_cells(np.ones((2, 2), bool), np.ones(5), 1e-3)
    with pytest.raises(ParameterError, match="pulse width"):
        b.pulse_cells(np.ones((2, 2), bool), 10.0, 0.0)
    with pytest.raises(ParameterError, match="gate_rows"):
        b.apply_pulse(Lines(np.zeros(3), np.zeros(2)), 1e-3)
    with pytest.raises(ParameterError, match="outside"):
        b.read(rows=[5])
    with pytest.raises(ParameterError, match="read voltage"):
        b.read(v_read_V=3.0)
    with pytest.raises(ParameterError, match="compliance_A"):
        b.iv_sweep((0, 0), np.zeros(3), 0.0)
    with pytest.raises(ParameterError, match="v_read_H_V"):
        b.mtt_read(None, -1.0, 0.6, 0.01)
    with pytest.raises(ParameterError, match="MTT unit"):
        b.mtt_read((0, 5), 1.4, 0.6, 0.01)


def test_selector_source_follower_ceiling():
    """An nMOS selector lifts the drain node to at most V_TG - V_T: depressing with
    V_ED = 10 V at V_SS = 10 V acts like ~-9.3 V, still a depression, never more than -V_ED."""
    from sim_backends.devices.h1e1t_cell import gate_voltage, selector_conductance
    sel = SimBackend(shape=(1, 1)).array.sel
    g_sel = selector_conductance(np.float32(V_SS), np.float32(10.0), np.float32(0.0), sel)
    v = gate_voltage(0.0, 10.0, 0.0, V_SS, g_sel, np.float32(50e-6), sel.v_t_V)
    assert float(v) == pytest.approx(-(V_SS - sel.v_t_V), abs=0.01)
    g_sel = selector_conductance(np.float32(V_SS), np.float32(V_D), np.float32(0.0), sel)
    assert float(gate_voltage(0.0, V_D, 0.0, V_SS, g_sel, np.float32(50e-6), sel.v_t_V)) \
        == pytest.approx(-V_D, rel=1e-3)


def test_column_wise_programming():
    """Fig. 5a: column-wise phases: one pulse per column; row-mates of targets half-selected
    once per other target in their row; depression leaves non-targets put."""
    mask = np.zeros((4, 4), bool)
    mask[:, 1] = True
    mask[2, 3] = True
    by = {}
    for mode in ("rows", "cols"):
        b = fresh((4, 4))
        b.array.set_option("program_by", mode)
        g0 = true_g(b)
        b.pulse_cells(mask, 10.0, 2e-3)
        by[mode] = (true_g(b) - g0, b.clock.now())
    dg_rows, t_rows = by["rows"]
    dg_cols, t_cols = by["cols"]
    assert t_rows == pytest.approx(4 * 2e-3) and t_cols == pytest.approx(2 * 2e-3)
    assert np.all(dg_cols[mask] > 0)
    assert np.allclose(dg_cols[mask], dg_rows[mask], rtol=0.5)
    sel = dg_cols[mask].min()
    assert np.all(np.abs(dg_cols[~mask]) < 2 * 0.02 * sel)             # <= 2 half-selects
    assert abs(dg_cols[2, 0]) > 1.5 * abs(dg_cols[0, 0])                # row 2 has 2 targets
    b = fresh((4, 4))
    b.array.set_option("program_by", "cols")
    g1 = true_g(b)
    b.pulse_cells(mask, -7.0, 2e-3)
    dg = true_g(b) - g1
    assert np.all(dg[mask] < 0) and np.all(np.abs(dg[~mask]) < 1e-6 * np.abs(dg[mask]).min())
    with pytest.raises(ParameterError, match="program_by"):
        b.array.set_option("program_by", "diagonal")


# -- relaxation clock: only programming events restart it (card retention.programmed_dose) --
def _nominal_dose(v_gc: float, width_s: float = 2e-3) -> float:
    p = ecram.EcramParams.from_card(CARD)
    dev = ecram.sample_devices((1, 1), p, np.random.default_rng(0))
    dev = ecram.EcramDevices(*(np.full((1, 1), v, np.float32) for v in
                               (p.g_on_S, p.floor_fraction, p.k0_p_per_s, p.k0_d_per_s, p.nu)))
    return abs(float(ecram.pulse_dose(np.float32(v_gc), width_s, dev, p)[0, 0]))


def test_programmed_dose_threshold_separates_half_select_from_programming():
    thr = CARD["retention"]["programmed_dose"]
    v_max = CARD["limits"]["v_max_V"]
    worst_half = _nominal_dose(v_max - V_D) * np.exp(3 * CARD["variation"]["k_sigma"])
    smallest_selected = min(_nominal_dose(7.0), _nominal_dose(-3.0))   # ECRAM ladder starts
    assert worst_half < thr < smallest_selected * np.exp(-3 * CARD["variation"]["k_sigma"])


def test_half_select_dose_keeps_the_relaxation_clock_running():
    b = SimBackend(shape=(2, 4), seed=0)
    t0 = b.clock.now()
    b.pulse_cells(np.ones((2, 4), bool), V_P, 2e-3)          # program everything at t0
    b.wait(100.0)
    arr = b.array
    g_before = arr.conductance()
    mask = np.zeros((2, 4), bool)
    mask[0, 0] = True
    b.pulse_cells(mask, V_P, 2e-3)                            # row 0: (0, 0) selected
    t1 = b.clock.now()
    assert arr.t_prog_s[0, 0] == pytest.approx(t1 - 2e-3)    # programming event: clock restarts
    # each row was stamped with its own pulse time: row 0 at t0, row 1 one pulse later
    assert np.all(arr.t_prog_s[0, 1:] == t0) and np.all(arr.t_prog_s[1] == t0 + 2e-3)
    g_after = arr.conductance()
    rise = (g_after - g_before)[0, 1:]
    step = (g_after - g_before)[0, 0]
    assert np.all(rise > 0) and np.all(rise < 0.01 * step)   # half-select adds < 1 % of a step
    assert np.allclose(g_after[1], g_before[1], rtol=1e-5)     # unselected row: no pulse
    # the half-selected cells keep relaxing on the old clock (no new steep early relaxation)
    x1 = arr._x_now()
    b.wait(10.0)
    x2 = arr._x_now()
    nu = arr.dev.nu[0, 1:]
    tau = CARD["retention"]["tau_s"]
    t_a, t_b = t1 - t0, t1 + 10.0 - t0
    old_clock = ((1 + t_b / tau) / (1 + t_a / tau)) ** -nu
    assert np.allclose(x2[0, 1:] / x1[0, 1:], old_clock, rtol=1e-5)
    fresh_clock = (1 + 10.0 / tau) ** -nu
    assert np.all(np.abs(x2[0, 1:] / x1[0, 1:] - fresh_clock) > 1e-3)


@pytest.mark.parametrize("one_per_row", [False, True])
def test_per_row_amplitudes_in_one_pass_equal_row_by_row_pulses(one_per_row):
    """program() pulses the k-th amplitude of every row in one pass: exactly what pulsing
    the plan one pulse after another gives (phase, amplitude ascending, row ascending; rows
    see 0 V while another row is pulsed), every row stamped with its own pulse time."""
    import dataclasses
    rng = np.random.default_rng(1)
    n = 12
    a, b = SimBackend(shape=(n, n), seed=3), SimBackend(shape=(n, n), seed=3)
    for s in (a, b):
        s.array.params = dataclasses.replace(s.array.params, c2c_sigma=0.0)
        s.array.x[:] = 0.3
    mask = rng.random((n, n)) < 0.6
    amp = np.where(rng.random((n, n)) < 0.5, rng.choice([7.0, 8.0, 9.0], (n, n)),
                   -rng.choice([3.0, 4.0], (n, n)))
    if one_per_row:   # the row_amplitude=max case: one amplitude per row and phase
        up = amp > 0
        amp = np.where(up, amp.max(axis=1, keepdims=True), amp.min(axis=1, keepdims=True))
    a.pulse_cells(mask, amp, 2e-3)
    for pot in (True, False):
        sel = mask & ((amp > 0) == pot)
        for lv in sorted(set(np.abs(amp[sel]))):
            for r in range(n):
                m = np.zeros((n, n), bool)
                m[r] = sel[r] & (np.abs(amp[r]) == lv)
                if m.any():
                    b.pulse_cells(m, lv if pot else -lv, 2e-3)
    assert np.array_equal(a.array.x, b.array.x)
    assert np.array_equal(a.array.t_prog_s, b.array.t_prog_s)
    assert a.clock.now() == b.clock.now()
