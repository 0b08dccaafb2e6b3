"""Pure ISPP step logic, levels/targets and schedules (no backend)."""
from __future__ import annotations

import numpy as np
import pytest

from hil.errors import ParameterError
from protocols.ispp import IsppEngine, Ladder
from hil.cards import load_card
from protocols.levels import (balanced_states, card_g_range, default_levels, level_values,
                              log_times, target_map)


def toy_device(g: np.ndarray, idx: np.ndarray, amp_V: np.ndarray, dead: np.ndarray) -> None:
    """Test-only cell response: ΔG exponential in |V| (like MTT Fig. S22c,d), bounded."""
    dg = 1e-9 * np.exp(np.abs(amp_V) / 1.0) * np.sign(amp_V)
    dg[dead[idx]] = 0.0
    g[idx] = np.clip(g[idx] + dg, 1e-7, 60e-6)


def drive(eng: IsppEngine, g: np.ndarray, dead: np.ndarray, rounds: int) -> list:
    amps = []
    for _ in range(rounds):
        idx = eng.active_index()
        if idx.size == 0:
            break
        eng.decide(idx, g[idx])
        up, vu, dn, vd = eng.next_pulses()
        amps.append((up.copy(), vu.copy(), dn.copy(), vd.copy()))
        toy_device(g, up, vu, dead)
        toy_device(g, dn, -vd, dead)
        eng.count_pulses(np.concatenate([up, dn]))
    return amps


def test_ladder_levels_and_errors():
    lad = Ladder(3.0, 0.5, 5.2)
    assert lad.top == 4
    np.testing.assert_allclose(lad.amplitude(np.array([0, 1, 4, 9])), [3.0, 3.5, 5.0, 5.2])
    assert Ladder(2.0, 0.0, 2.0).top == 0
    with pytest.raises(ParameterError, match="start=5.0 V.*max=4.0 V"):
        Ladder(5.0, 0.5, 4.0)


def test_engine_converges_on_toy_array_both_directions():
    rng = np.random.default_rng(1)
    target = rng.uniform(5e-6, 40e-6, (16, 16))
    g = rng.uniform(1e-6, 50e-6, 256)          # some cells start above, some below
    eng = IsppEngine(target, 0.02 * target, Ladder(2.0, 0.25, 8.0), Ladder(2.0, 0.25, 8.0),
                     max_pulses=400, stuck_after=0)
    drive(eng, g, np.zeros(256, bool), 500)
    assert eng.done and eng.converged.all()
    assert np.all(np.abs(g - target.ravel()) <= 0.02 * target.ravel())
    assert eng.n_pulses.max() <= 400


def test_amplitude_rises_after_miss_and_restarts_after_overshoot():
    target = np.array([[10e-6]])
    g = np.array([5e-6])
    eng = IsppEngine(target, 1e-9, Ladder(2.0, 1.0, 9.0), Ladder(1.5, 0.5, 4.0), max_pulses=50)
    amps = drive(eng, g, np.zeros(1, bool), 50)
    signed = [(vu[0] if vu.size else -vd[0]) for _, vu, _, vd in amps]
    assert signed[:4] == [2.0, 3.0, 4.0, 5.0]            # potentiation ladder climbs
    first_dep = next(i for i, v in enumerate(signed) if v < 0)
    assert signed[first_dep] == -1.5                     # overshoot: depression ladder from its start
    assert all(v <= 9.0 for v in signed)


def test_dead_cell_is_given_up_and_exhausted_cell_fails():
    target = np.full((1, 3), 20e-6)
    g = np.array([5e-6, 5e-6, 5e-6])
    dead = np.array([True, False, False])
    eng = IsppEngine(target, np.array([[1e-7, 1e-7, 1e-12]]), Ladder(2.0, 0.5, 8.0),
                     Ladder(2.0, 0.5, 8.0), max_pulses=60, stuck_after=10)
    drive(eng, g, dead, 200)
    assert eng.stuck[0] and not eng.converged[0] and eng.n_pulses[0] == 10
    assert eng.converged[1]
    # cell 2 has an impossible (1 pS) band: it runs out of pulses
    assert eng.failed()[2] and eng.n_pulses[2] == 60


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(3)
    target = rng.uniform(5e-6, 40e-6, (8, 8))
    g0 = rng.uniform(1e-6, 50e-6, 64)
    mk = lambda: IsppEngine(target, 0.02 * target, Ladder(2, 0.25, 8), Ladder(2, 0.25, 8), 300, 20)
    a, ga = mk(), g0.copy()
    drive(a, ga, np.zeros(64, bool), 300)
    b, gb = mk(), g0.copy()
    drive(b, gb, np.zeros(64, bool), 7)
    c = mk()
    c.load_state_dict({k: np.array(v) for k, v in b.state_dict().items()})
    drive(c, gb, np.zeros(64, bool), 293)
    np.testing.assert_array_equal(ga, gb)
    np.testing.assert_array_equal(a.n_pulses, c.n_pulses)
    state = b.state_dict()                       # ladder state of the active cells only
    assert state["level"].shape == state["g_ref"].shape == (int(b.active.sum()),) and "g_last" not in state
    state["level"] = state["level"][:-1]
    with pytest.raises(ValueError, match="checkpoint array 'level' has shape"):
        mk().load_state_dict(state)


def test_levels_and_card_defaults():
    np.testing.assert_allclose(level_values(8, 5e-6, 40e-6), np.arange(5, 41, 5) * 1e-6)
    with pytest.raises(ParameterError, match="g_low_S=4e-05"):
        level_values(4, 40e-6, 5e-6)
    ecram = {"name": "e", "kind": "ecram", "conductance": {"g_S": 50e-6, "floor_fraction": 1e-3},
             "geometry": {"width_m": 10e-6, "length_m": 10e-6}}
    assert card_g_range(ecram) == pytest.approx((50e-9, 50e-6))
    n, lo, hi = default_levels(load_card("ecram_wox_lipon"))     # the card's [presets.levels]
    assert n == 16 and lo == pytest.approx(2.5e-6) and hi == pytest.approx(40e-6)
    assert default_levels(load_card("rram_hfox_1t1r")) == (8, 5e-6, 40e-6)
    with pytest.raises(ParameterError, match="declares no preset 'levels.n_levels'"):
        default_levels(ecram)            # no presets in the card: no guessed default
    with pytest.raises(ParameterError, match="no usable conductance range"):
        card_g_range({"name": "bare"})


def test_target_maps(tmp_path):
    mask = np.ones((8, 16), bool)
    mask[0, 0] = False
    lv = level_values(16, 1e-6, 16e-6)
    rng = np.random.default_rng(0)
    st, tg = target_map("random", mask, lv, rng)
    assert st[0, 0] == -1 and np.isnan(tg[0, 0])
    counts = np.bincount(st[mask], minlength=16)
    assert counts.max() - counts.min() <= 1            # balanced
    np.testing.assert_allclose(tg[mask], lv[st[mask]])
    st, tg = target_map("checkerboard", mask, lv, rng)
    assert st[0, 1] == 15 and st[1, 1] == 0
    st, _ = target_map("ramp", mask, lv, rng)
    assert st[3, 0] == 0 and st[3, 15] == 15
    st, _ = target_map("uniform:3", mask, lv, rng)
    assert set(np.unique(st[mask])) == {3}
    arr = np.full((8, 16), 7.2e-6)
    np.save(tmp_path / "t.npy", arr)
    st, tg = target_map(str(tmp_path / "t.npy"), mask, lv, rng)
    assert tg[1, 1] == 7.2e-6 and st[1, 1] == 6
    for bad, msg in [("uniform:99", "level must be an integer in 0..15"),
                     ("stripes", "not understood"), (str(tmp_path / "nope.npy"), "does not exist")]:
        with pytest.raises(ParameterError, match=msg):
            target_map(bad, mask, lv, rng)
    np.save(tmp_path / "small.npy", np.ones((2, 2)))
    with pytest.raises(ParameterError, match=r"shape \(2, 2\)"):
        target_map(str(tmp_path / "small.npy"), mask, lv, rng)
    assert balanced_states(np.ones((3, 3), bool), 16, rng).max() <= 15


def test_log_times():
    t = log_times(1.0, 3.15576e8, 18)
    assert t[0] == 1.0 and t[-1] == pytest.approx(3.15576e8) and len(t) == 18
    np.testing.assert_allclose(np.diff(np.log(t)), np.log(t[1] / t[0]))
    with pytest.raises(ParameterError, match="t_first_s=0"):
        log_times(0, 10, 5)
    with pytest.raises(ParameterError, match="horizon_s=1 s must be >= t_first_s=10"):
        log_times(10, 1, 5)


def test_converged_cell_disturbed_out_of_band_is_reopened():
    target = np.full((1, 2), 10e-6)
    eng = IsppEngine(target, 0.02 * target, Ladder(2, 1, 8), Ladder(2, 1, 8), max_pulses=50, settle=0.5)
    eng.decide(np.array([0, 1]), np.array([10.05e-6, 8e-6]))     # cell 0 inside settle*tol
    assert eng.converged[0] and eng.active[1]
    assert set(eng.verify_index(np.array([0]))) == {0, 1}          # its row was pulsed: verify it too
    eng.decide(np.array([0, 1]), np.array([10.15e-6, 8.5e-6]))     # +1.5 %: still within tol, kept
    assert eng.converged[0] and eng.n_reopened == 0
    eng.decide(np.array([0, 1]), np.array([10.3e-6, 9e-6]))        # +3 %: out of band, reopened
    assert not eng.converged[0] and eng.active[0] and eng.n_reopened == 1
    up, _, down, v_down = eng.next_pulses()
    assert 0 in down and v_down[list(down).index(0)] == 2.0        # back down from the ladder start


def test_per_row_amplitude_pulses_only_the_row_maximum():
    from protocols.ispp import row_max_level

    level = np.array([0, 3, 3, 1, 2, 2, 0, 0], np.int16)
    idx = np.arange(8)
    np.testing.assert_array_equal(row_max_level(idx, level, (2, 4)), [1, 2, 4, 5])
    assert row_max_level(np.empty(0, np.int64), level, (2, 4)).size == 0


def test_aim_shifts_the_converge_window_up_and_is_checked():
    target = np.full((1, 2), 10e-6)
    eng = IsppEngine(target, 0.02 * target, Ladder(2, 1, 8), Ladder(2, 1, 8), 50, settle=0.5, aim=0.5)
    eng.decide(np.array([0, 1]), np.array([9.95e-6, 10.15e-6]))   # -0.5 %: below the window [0, +2 %]
    assert not eng.converged[0] and eng.converged[1]
    assert eng.direction[0] == 1                                    # pushed up towards target + 1 %
    with pytest.raises(ParameterError, match="aim=0.8 and settle=0.5"):
        IsppEngine(target, 0.02 * target, Ladder(2, 1, 8), Ladder(2, 1, 8), 50, settle=0.5, aim=0.8)
