"""H-1E1T selective programming: Table S2 line voltages, pattern outcome, disturb, resume."""
from __future__ import annotations

import numpy as np
import pytest

from hil.errors import ParameterError
from hil.runner import resume, run_protocol
from hil.station import Station
from hil.store import Run
from protocols.selective_programming import SelectiveProgramming, make_pattern, phase_lines
from sim_backends import SimBackend

V_P, V_D, V_SS = 10.0, 6.0, 10.0


def test_row_phase_lines_follow_table_s2():
    targets = np.array([True, False, True, False])
    pot = phase_lines("row", 1, targets, True, (3, 4), V_P, V_D, V_SS)
    np.testing.assert_array_equal(pot.gate_rows, [0, V_P, 0])            # EG = V_P on the row only
    np.testing.assert_array_equal(pot.drain, [0, V_D, 0])                # ED = V_D (inhibit)
    np.testing.assert_array_equal(pot.select_cols, [0, V_SS, 0, V_SS])   # selector off on targets
    dep = phase_lines("row", 1, targets, False, (3, 4), V_P, V_D, V_SS)
    np.testing.assert_array_equal(dep.gate_rows, [0, 0, 0])              # EG grounded
    np.testing.assert_array_equal(dep.drain, [0, V_D, 0])
    np.testing.assert_array_equal(dep.select_cols, [V_SS, 0, V_SS, 0])   # selector on on targets
    col = phase_lines("column", 2, np.array([True, False, False]), True, (3, 4), V_P, V_D, V_SS)
    np.testing.assert_array_equal(col.gate_rows, [V_P, 0, 0])
    np.testing.assert_array_equal(col.select_cols, [V_SS, V_SS, 0, V_SS])
    for lines in (pot, dep, col):                                        # no negative voltages
        assert min(lines.gate_rows.min(), lines.select_cols.min(), np.min(lines.drain)) >= 0


@pytest.fixture(scope="module")
def row_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("sp") / "row.h5"
    run_protocol("selective_programming", SimBackend((8, 8), seed=4), path,
                 {"pattern": "random", "seed": 2}, progress=False)
    return Run.open(path)


def test_row_wise_pattern_moves_targets_and_holds_the_rest(row_run):
    run = row_run
    assert run.status == "complete"
    pattern = run.read_result("pattern")
    before, after = run.read_result("G_before_S"), run.read_result("G_after_S")
    rel = after / before - 1
    assert set(np.unique(pattern)) == {-1, 0, 1}
    assert np.all(rel[pattern > 0] > 0.2)                  # 20 x 10 V / 5 ms raise G by > 20 %
    assert np.all(rel[pattern < 0] < -0.2)
    # held cells: half-selected (V_P - V_D) or unselected (~0 V); physics keeps them within 2 %
    assert np.all(np.abs(rel[pattern == 0]) < 0.02)
    a = run.dataset_attrs("results/disturbance")
    assert a["passed"] and a["held_within"] == 1.0 and a["held_max"] < 0.02
    half = run.read_result("half_select_pulses")
    assert a["n_half"] > 0 and set(np.unique(half[pattern == 0])) <= {0, 20}
    assert a["half_max"] < 0.02                            # Table S2: V_P - V_D "≈ no change"
    assert np.allclose(before, 20e-6, rtol=0.02)           # written to g_start_S first
    t, maps = run.read_maps()
    assert len(t) == 1 + 8 and np.all(np.diff(t) > 0)      # before + one map per row
    ev = run.read_events()
    first = run.dataset_attrs("results/pattern")["first_pattern_step"]
    pat_ev = ev[(ev["op"] == 1) & (ev["step"] >= first)]
    assert len(pat_ev) == 20 * int((pattern != 0).sum())   # one row per target cell and pulse
    assert set(np.round(pat_ev["V_V"], 6)) == {V_P, -V_D}


def test_column_wise_disturbs_more_than_row_wise(row_run, tmp_path):
    path = tmp_path / "col.h5"
    run_protocol("selective_programming", SimBackend((8, 8), seed=4), path,
                 {"pattern": "random", "seed": 2, "mode": "column"}, progress=False)
    col = Run.open(path)
    rel = col.read_result("G_after_S") / col.read_result("G_before_S") - 1
    pattern = col.read_result("pattern")
    assert np.all(rel[pattern > 0] > 0.2) and np.all(rel[pattern < 0] < -0.2)
    # column-wise: every row with a + target in a column is raised to V_P for that column's
    # phase, so held cells collect half-select pulses from several columns
    assert (col.dataset_attrs("results/disturbance")["held_mean"]
            > row_run.dataset_attrs("results/disturbance")["held_mean"])


def test_kill_and_resume(tmp_path, killed_run):
    args = ("selective_programming", "--set", "n_pulses=5", "--set", "max_pulses=40")
    killed = tmp_path / "k.h5"
    killed_run(killed, 10, *args)           # batch_steps 4: killed after step 43 = pattern line 2
    t, _ = Run.open(killed).read_maps()
    assert len(t) == 1 + 3                  # the map before the pattern and after lines 0, 1, 2
    resume(killed, progress=False)
    station = Station.load(None)
    ref = tmp_path / "ref.h5"
    run_protocol("selective_programming", station.make_backend(), ref, {"n_pulses": 5, "max_pulses": 40},
                 station=station, progress=False)
    a, b = Run.open(killed), Run.open(ref)
    assert a.status == "complete"
    np.testing.assert_array_equal(a.read_maps()[1], b.read_maps()[1])
    np.testing.assert_array_equal(a.read_result("delta_G_S"), b.read_result("delta_G_S"))


def test_patterns_and_bad_parameters(tmp_path):
    mask = np.ones((4, 4), bool)
    assert make_pattern("diagonal", mask, np.random.default_rng(0))[0, 0] == 1
    assert make_pattern("diagonal", mask, np.random.default_rng(0))[0, 3] == -1
    np.save(tmp_path / "bad.npy", np.full((8, 8), 2))
    cases = [
        ({"pattern": str(tmp_path / "bad.npy")}, "must hold only -1, 0, \\+1"),
        ({"pattern": "smiley"}, "pattern='smiley' not understood"),
        ({"mode": "diagonal"}, "mode='diagonal' not allowed"),
        ({"v_p_V": 13.0}, "v_p_V=13.0 V is outside the safe range"),
        ({"pulse_width_s": 1.0}, "pulse_width_s=1.0 s is outside the safe range"),
        ({"n_pulses": 0}, "n_pulses=0 is below the minimum 1"),
    ]
    for params, message in cases:
        with pytest.raises(ParameterError, match=message):
            SelectiveProgramming(SimBackend((8, 8)), **params)
    with pytest.raises(ParameterError, match="not an ECRAM card"):
        SelectiveProgramming(SimBackend((8, 8), array="1t1r"))


def test_plot(row_run, tmp_path):
    from hil.plotting import plot_run

    assert plot_run(row_run.path, tmp_path / "sp.png").stat().st_size > 20_000
