"""Unmodified QCoDeS 0.58 drivers (KeysightB1500, Keysight33522B, KeysightB220X) against
`hil serve` of the bundled SMU-only station (QCoDeS has no SPGU class and refuses a
mainframe that reports one).  Matrix routing goes through ``KeysightB220X``, so the
measured currents are the simulated cell's."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

qcodes = pytest.importorskip("qcodes")
from qcodes.instrument_drivers.Keysight import (  # noqa: E402
    Keysight33522B, KeysightB220X, KeysightB1500)
from qcodes.instrument_drivers.Keysight.keysightb1500 import constants  # noqa: E402

from test_thirdparty_clients import GNDU, PG1, SMU4, SMU6, pin, served  # noqa: E402

_names = itertools.count()


@pytest.fixture(scope="module")
def lab():
    yield from served("emulated_lab_smu")


@pytest.fixture
def matrix(lab):
    _, res = lab
    m = KeysightB220X(f"mx{next(_names)}", res["matrix"], timeout=5)
    yield m
    m.close()


@pytest.fixture
def b1500(lab, matrix):
    s, res = lab
    matrix.disconnect_all()
    # D0 <- SMU4 (slot 4 = smu1), T0 <- SMU6 (slot 6 = smu3), S0 <- GNDU
    matrix.connect_paths([(SMU4, pin(s, "D0")), (SMU6, pin(s, "T0")), (GNDU, pin(s, "S0"))])
    b = KeysightB1500(f"b1500_{next(_names)}", res["b1500"], timeout=10)
    b.reset()
    b.enable_channels([4, 6])
    b.smu3.source_config(output_range=constants.VOutputRange.AUTO, compliance=1e-3)
    b.smu3.voltage(10)  # selector gate on
    yield b
    b.close()


def _g(s):
    return float(s.lab.physics.array.conductance()[0, 0])


def test_init_identification_and_errors(b1500):
    assert b1500.IDN()["model"] == "B1500A"
    assert [m.MODULE_KIND for m in b1500.by_slot.values()] == [constants.ModuleKind.SMU] * 4
    assert b1500.error_message() == '+0,"No Error."'
    with pytest.raises(RuntimeError, match="100"):
        b1500.write("NOSUCHCMD")
    assert b1500.error_message() == '+0,"No Error."'  # the failed write drained it
    assert b1500.self_calibration() == constants.CALResponse(0)
    assert b1500.get_status() == 0


def test_spot_measurement_is_the_cell_current(b1500, lab):
    s, _ = lab
    smu = b1500.smu1
    smu.source_config(output_range=constants.VOutputRange.AUTO, compliance=1e-3)
    smu.voltage(0.1)
    assert smu.voltage() == pytest.approx(0.1)
    assert smu.current() == pytest.approx(_g(s) * 0.1, rel=5e-3)
    assert smu.current.measurement_status == constants.MeasurementStatus.N
    assert smu.is_enabled()


def test_staircase_sweep_returns_the_cell_iv(b1500, lab):
    s, _ = lab
    smu = b1500.smu1
    smu.setup_staircase_sweep(v_start=0, v_end=0.5, n_steps=6, i_comp=1e-3,
                              i_meas_range=constants.IMeasRange.AUTO)
    b1500.set_measurement_mode(constants.MM.Mode.STAIRCASE_SWEEP, channels=(smu.channels[0],))
    b1500.run_iv_staircase_sweep.set_names_labels_and_units()
    (i,) = b1500.run_iv_staircase_sweep()
    v = np.asarray(b1500.run_iv_staircase_sweep.setpoints[0][0])
    assert np.allclose(v, np.linspace(0, 0.5, 6))
    i = np.asarray(i)
    assert i[0] == 0.0 and np.allclose(i[1:], _g(s) * v[1:], rtol=1e-2)
    assert b1500.run_iv_staircase_sweep.status_summary() == {"param1": "No status error occurred."}
    # sweep settings read back from *LRN? 33 and 31
    assert (smu.iv_sweep.sweep_start(), smu.iv_sweep.sweep_end()) == (0.0, 0.5)
    assert smu.iv_sweep.sweep_steps() == 6 and smu.iv_sweep.current_compliance() == 1e-3
    assert smu.iv_sweep.sweep_auto_abort() == constants.Abort.ENABLED
    assert smu.iv_sweep.post_sweep_voltage_condition() == constants.WM.Post.STOP
    assert b1500.get_measurement_mode() == {"mode": constants.MM.Mode.STAIRCASE_SWEEP,
                                            "channels": [4]}
    fmt = b1500.get_response_format_and_mode()
    assert (int(fmt["format"]), int(fmt["mode"])) == (1, 0)  # restored after the sweep


def test_sampling_as_qcodes_runs_it(b1500, lab):
    s, _ = lab
    smu = b1500.smu1
    smu.timing_parameters(h_bias=0.0, interval=0.001, number=7)
    smu.measurement_mode(constants.MM.Mode.SAMPLING)
    smu.source_config(output_range=constants.VOutputRange.AUTO, compliance=1e-3)
    smu.voltage(0.2)  # sampling without MV: the channel's DC output
    trace = smu.sampling_measurement_trace()
    assert trace.shape == (7,) and np.allclose(trace, _g(s) * 0.2, rtol=5e-3)
    assert len(smu.time_axis()) == 7


def test_snapshot_update_reads_every_parameter(b1500):
    snap = b1500.snapshot(update=True)
    assert set(snap["submodules"]) >= {"smu1", "smu2", "smu3", "smu4"}
    assert b1500.error_message() == '+0,"No Error."'


def test_matrix_connect_disconnect_through_b220x(lab, matrix):
    s, _ = lab
    matrix.disconnect_all()
    matrix.connect(PG1, pin(s, "G2"))
    matrix.connect_paths([(SMU4, pin(s, "D2")), (GNDU, pin(s, "S3"))])
    assert matrix.connections() == {(PG1, pin(s, "G2")), (SMU4, pin(s, "D2")), (GNDU, pin(s, "S3"))}
    assert s.lab.bench.routes == matrix.connections()
    matrix.disconnect(PG1, pin(s, "G2"))
    assert (PG1, pin(s, "G2")) not in matrix.connections()
    matrix.connection_rule("single")
    matrix.connect(SMU4, pin(s, "D3"))       # single route: replaces SMU4 -> D2
    assert matrix.connections() == {(SMU4, pin(s, "D3")), (GNDU, pin(s, "S3"))}
    matrix.connection_rule("free")
    matrix.connection_sequence("mbb")
    matrix.bias_input_port(3)
    matrix.couple_ports([1, 3])
    assert (matrix.connection_sequence(), matrix.bias_input_port(), matrix.couple_ports()) == (
        "mbb", 3, [1, 3])
    snap = matrix.snapshot(update=True)
    assert snap["parameters"]["connection_rule"]["value"] == "free"
    matrix.disconnect_all()
    assert matrix.connections() == set() and s.lab.bench.routes == set()
    assert matrix.get_error() == '+0,"No error"'


def test_33522b_setters_getters_and_triggered_burst(lab, matrix):
    s, res = lab
    matrix.disconnect_all()
    matrix.connect(PG1, pin(s, "G1"))
    pg = Keysight33522B(f"pg{next(_names)}", res["pg"], timeout=5)
    try:
        pg.write("*RST")
        ch = pg.ch1
        ch.function_type("PULS")
        ch.frequency(250.0)
        ch.pulse_width(0.002)
        ch.amplitude(4)       # high/low = offset ± amplitude/2
        ch.offset(2)
        ch.burst_mode("N Cycle")
        ch.burst_ncycles(3)
        ch.trigger_source("BUS")
        ch.burst_state("ON")
        ch.output("ON")
        assert (ch.function_type(), ch.frequency(), ch.pulse_width()) == ("PULS", 250.0, 0.002)
        assert (ch.amplitude(), ch.offset(), ch.burst_ncycles()) == (4.0, 2.0, 3)
        assert (ch.trigger_source(), ch.burst_state(), ch.burst_mode(), ch.output()) == (
            "BUS", "ON", "N Cycle", "ON")
        snap = pg.snapshot(update=True)  # every parameter has its query
        assert snap["submodules"]["ch2"]["parameters"]["frequency"]["value"] == 1000.0
        assert pg.error() == (0, "No error")
        g0 = s.lab.physics.array.conductance()[1].copy()
        pg.force_trigger()
        assert pg.ask("*OPC?") == "1"
        assert np.all(s.lab.physics.array.conductance()[1] > g0)
    finally:
        pg.close()
