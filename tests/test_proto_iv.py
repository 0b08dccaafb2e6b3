"""iv_sweep: ECRAM ±8 V transfer curve (switching ratio 56) and RRAM set/reset loops."""
from __future__ import annotations

import numpy as np
import pytest

from hil.errors import ParameterError
from hil.runner import resume, run_protocol
from hil.station import Station
from hil.store import OPS, Run
from protocols.iv_sweep import IvSweep, sweep_waveform
from sim_backends import SimBackend


def test_waveform():
    v, mid, end = sweep_waveform(8.0, -8.0, 0.1)
    assert v[0] == 0 and v[mid] == 0 and v[end] == 0 and v.max() == 8.0 and v.min() == -8.0
    assert len(v) == 321 and np.all(np.abs(np.diff(v)) <= 0.1 + 1e-9)
    with pytest.raises(ParameterError, match="v_max_V > 0 > v_min_V"):
        sweep_waveform(8.0, 1.0, 0.1)
    with pytest.raises(ParameterError, match="step_V=9"):
        sweep_waveform(8.0, -8.0, 9.0)


@pytest.fixture(scope="module")
def ecram_runs(tmp_path_factory):
    """Five-cycle transfer curves of the four cells of a 2 x 2 array."""
    tmp = tmp_path_factory.mktemp("iv")
    backend = SimBackend((2, 2), seed=1)
    return [Run.open(run_protocol("iv_sweep", backend, tmp / f"iv{r}{c}.h5", {"cycles": 5, "cell": f"{r},{c}"},
                                  progress=False)) for r in range(2) for c in range(2)]


def test_ecram_transfer_curve_switching_ratio(ecram_runs):
    ratios = np.array([run.read_result("ratio") for run in ecram_runs])
    assert ratios.shape == (4, 5)
    # MTT Fig. 3a: 56 on average at V_G = 0; single devices spread (device-to-device kinetics)
    assert 56 * 0.9 < ratios.mean() < 56 * 1.1
    assert np.all((ratios > 56 * 0.7) & (ratios < 56 * 1.3))
    run = ecram_runs[0]
    I = run.read_result("I_A")
    v = run.read_result("V_V")
    assert I.shape == (5, len(v)) and run.dataset_attrs("results/I_A")["units"] == "A"
    up = np.flatnonzero(v == 8.0)[0]
    assert I[-1, up] > I[-1, 0]                               # positive gate potentiates (hysteresis)
    ev = run.read_events()
    assert len(ev) == 5 * len(v) and (ev["op"] == OPS["iv"]).all()
    np.testing.assert_allclose(ev["G_S"][: len(v)], I[0] / 0.1, rtol=1e-6)   # drain read at 0.1 V
    assert "switching ratio mean" in IvSweep.summary(run)[0]


def test_rram_set_reset_loop(tmp_path):
    path = tmp_path / "rram.h5"
    run_protocol("iv_sweep", SimBackend((2, 2), array="1t1r", device="rram_taox", seed=1), path,
                 {"cycles": 3}, progress=False)
    run = Run.open(path)
    assert run.attrs["params"]["mode"] == "set_reset"
    v_set, v_reset, ratio = (run.read_result(k) for k in ("v_set_V", "v_reset_V", "ratio"))
    assert np.all((v_set > 0.3) & (v_set < 1.5)) and np.all((v_reset < -0.3) & (v_reset > -1.5))
    assert np.all(ratio > 10)                                 # bipolar switching, on/off >> 1
    assert np.abs(run.read_result("I_A")).max() <= 100e-6 + 1e-12   # compliance held


def test_kill_and_resume(tmp_path, killed_run):
    killed = tmp_path / "k.h5"
    killed_run(killed, 0, "iv_sweep", "--set", "cycles=10", "--set", "step_V=0.2")  # after cycle 5
    assert len(Run.open(killed).read_events()) == 5 * 161
    resume(killed, progress=False)
    station = Station.load(None)
    ref = tmp_path / "ref.h5"
    run_protocol("iv_sweep", station.make_backend(), ref, {"cycles": 10, "step_V": 0.2},
                 station=station, progress=False)
    np.testing.assert_array_equal(Run.open(killed).read_result("I_A"), Run.open(ref).read_result("I_A"))


@pytest.mark.parametrize("params, message", [
    ({"v_max_V": 13.0}, r"v_max_V=13.0 V is outside the safe range .* -10.0 .. 12.0"),
    ({"v_min_V": 1.0}, "v_min_V=1.0 V is above the maximum"),
    ({"cell": "all"}, "must name exactly one cell"),
    ({"cell": "9,9"}, "row 9 is outside 0..7"),
    ({"mode": "set_reset"}, "mode='set_reset' does not fit device 'ecram_wox_lipon'"),
    ({"cycles": 0}, "cycles=0 is below the minimum 1"),
    ({"compliance_A": -1}, "compliance_A=-1.0 A must be > 0"),
])
def test_bad_parameters(params, message):
    with pytest.raises(ParameterError, match=message):
        IvSweep(SimBackend((8, 8)), **params)


def test_plot(ecram_runs, tmp_path):
    from hil.plotting import plot_run

    assert plot_run(ecram_runs[0].path, tmp_path / "iv.png").stat().st_size > 20_000
