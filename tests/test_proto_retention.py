"""retention end to end: snapshots at the requested times, drift physics, resume, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from hil.errors import ParameterError
from hil.runner import resume, run_protocol
from hil.station import Station
from hil.store import Run
from protocols.retention import TEN_YEARS_S, Retention
from sim_backends import SimBackend

PARAMS = {"n_snapshots": 10, "max_pulses": 60}


@pytest.fixture(scope="module")
def ecram_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("ret") / "ret.h5"
    run_protocol("retention", SimBackend((8, 8), seed=2), path, PARAMS, progress=False)
    return Run.open(path)


def test_snapshots_at_log_spaced_times_out_to_ten_years(ecram_run):
    run = ecram_run
    assert run.status == "complete"
    t, G = run.read_maps()
    expected = np.geomspace(1.0, TEN_YEARS_S, 10)
    np.testing.assert_allclose(t, expected, rtol=1e-9)            # virtual clock: exact times
    np.testing.assert_allclose(run.read_result("schedule_t_s"), expected)
    assert G.shape == (10, 8, 8) and run.dataset_attrs("maps/t_s")["units"] == "s"
    state = run.read_result("state")
    target = run.read_result("target_G_S")
    assert state.dtype == np.int32 and state.shape == (8, 8) and target.shape == (8, 8)
    assert set(np.unique(state)) == set(range(16))                # 16 ECRAM states (Fig. 3i)
    levels = run.read_result("levels_G_S")
    np.testing.assert_allclose(target, levels[run.read_result("target_state")])
    assert run.read_result("converged").all()


def test_drift_follows_the_ecram_relaxation_and_states_stay_distinct(ecram_run):
    t, G = ecram_run.read_maps()
    state = ecram_run.read_result("state")
    means = np.array([[G[k][state == s].mean() for s in range(16)] for k in range(len(t))])
    assert np.all(np.diff(means, axis=0) < 0)                     # Li back-relaxation only lowers G
    k4 = int(np.argmin(np.abs(np.log(t / 1e4))))
    drift_1e4 = means[k4] / means[0] - 1
    # card [retention]: ~1.8 % at 1e4 s; ν = 0.002 gives ((1 + t)/(1 + t0))^-ν
    expected = ((1 + t[k4]) / (1 + t[0])) ** -0.002 - 1
    np.testing.assert_allclose(drift_1e4, expected, atol=0.006)
    # 16 distinct states after 10 years: neighbouring states do not overlap
    last = [G[-1][state == s] for s in range(16)]
    assert all(last[s].max() < last[s + 1].min() for s in range(15))


def test_kill_after_snapshot_k_resumes_with_k_plus_1(tmp_path, killed_run):
    args = ("retention", "--set", "n_snapshots=8", "--set", "max_pulses=40")
    n_prog = 5                                              # ceil(41 / 10) programming steps
    killed = tmp_path / "killed.h5"
    killed_run(killed, n_prog + 3, *args)                   # SIGKILL right after snapshot 3
    t, _ = Run.open(killed).read_maps()
    assert len(t) == 4
    resume(killed, progress=False)
    station = Station.load(None)
    ref = tmp_path / "ref.h5"
    run_protocol("retention", station.make_backend(), ref, {"n_snapshots": 8, "max_pulses": 40},
                 station=station, progress=False)
    (ta, Ga), (tb, Gb) = Run.open(killed).read_maps(), Run.open(ref).read_maps()
    assert len(ta) == 8 and Run.open(killed).status == "complete"
    np.testing.assert_allclose(ta, np.geomspace(1.0, TEN_YEARS_S, 8), rtol=1e-9)
    np.testing.assert_array_equal(ta, tb)
    np.testing.assert_array_equal(Ga, Gb)


def test_hfox_defaults_are_eight_levels_5_to_40_uS():
    proto = Retention(SimBackend((8, 8), array="1t1r", device="rram_hfox_1t1r"))
    np.testing.assert_allclose(proto.levels, np.arange(5, 41, 5) * 1e-6)
    assert set(np.unique(proto.state)) == set(range(8))
    assert proto.values["width_s"] == pytest.approx(1e-6)         # RRAM preset


@pytest.mark.parametrize("params, message", [
    ({"horizon_s": 0.5}, "horizon_s=0.5 s must be >= t_first_s=1.0 s"),
    ({"t_first_s": -1}, "t_first_s=-1.0 s must be > 0"),
    ({"n_snapshots": 0}, "n_snapshots=0 is below the minimum 1"),
    ({"n_levels": 0}, "n_levels=0 is below the minimum 1"),
    ({"v_read_snap_V": 5}, "v_read_snap_V=5.0 V is above the maximum"),
])
def test_bad_parameters(params, message):
    with pytest.raises(ParameterError, match=message):
        Retention(SimBackend((8, 8)), **params)


def test_plot(ecram_run, tmp_path):
    from hil.plotting import plot_run

    assert plot_run(ecram_run.path, tmp_path / "r.png").stat().st_size > 20_000
