"""Injected faults: drivers detect them, reads are retried, pulses are never repeated, and the
runner leaves a resumable file."""
from __future__ import annotations

import numpy as np
import pytest

from hil import serve
from hil.backend import Lines
from hil.errors import InstrumentError, TransportError
from hil.station import Station
from instruments.array_controller import messages as m
from instruments.array_controller.driver import ControllerError
from instruments.b1500.driver import B1500Error

CTRL = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 4
cols = 4
seed = 2
wiring = "array_controller"
[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "{addr}"
options = {{ timeout_s = 2.0 }}
"""
MATRIX = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 2
cols = 2
wiring = "b1500_matrix"
[[instruments]]
name = "b1500"
driver = "b1500"
address = "loopback"
[[instruments]]
name = "matrix"
driver = "switch_matrix"
address = "loopback"
"""
LINES = Lines(gate_rows=np.r_[10.0, 0, 0, 0], select_cols=np.zeros(4), drain=0.0, source=0.0)


@pytest.fixture
def ctrl_lab():
    b = Station.from_text(CTRL.format(addr="loopback")).make_backend()
    yield b, b.emulated.emulators["ctrl"], b.drivers["ctrl"]
    b.close()


@pytest.mark.parametrize("kind", ["timeout", "garble", "partial"])
def test_lost_or_bad_read_reply_is_retried(ctrl_lab, kind):
    b, emu, drv = ctrl_lab
    emu.faults.add(kind, on="READ_ARRAY")
    g = b.read()
    assert np.allclose(g, b.emulated.physics.array.conductance(), rtol=1e-3)
    assert emu.faults.fired == [(kind, "READ_ARRAY")]
    ev = list(drv.events)
    assert len(ev) == 1 and "retry READ_ARRAY" in ev[0]
    assert b.fault_events() == [f"ctrl: {ev[0]}"]
    assert b.fault_events() == [] and drv.events == []


def test_lost_pulse_reply_is_confirmed_by_counter_not_repeated(ctrl_lab):
    b, emu, drv = ctrl_lab
    emu.faults.add("timeout", on="PULSE")
    b.apply_pulse(LINES, 2e-3)
    assert emu.pulse_count == 1 and drv.pulse_count == 1
    assert "counter confirms" in drv.events[-1]


def test_disconnect_before_pulse_raises_and_applies_nothing(ctrl_lab):
    b, emu, drv = ctrl_lab
    emu.faults.add("disconnect", on="PULSE")
    with pytest.raises(TransportError, match="not repeated") as e:
        b.apply_pulse(LINES, 2e-3)
    assert not e.value.transient
    assert emu.pulse_count == 0


def test_instrument_error_and_compliance_are_reported(ctrl_lab):
    b, emu, _ = ctrl_lab
    emu.faults.add("error", on="PROGRAM")
    with pytest.raises(ControllerError, match="busy"):
        b.pulse_cells(np.eye(4, dtype=bool), 10.0, 1e-3)
    emu.faults.add("compliance")
    with pytest.raises(ControllerError) as e:
        b.read()
    assert e.value.code == m.E_COMPLIANCE


def test_b1500_faults_detected():
    b = Station.from_text(MATRIX).make_backend()
    emu = b.emulated.emulators["b1500"]
    emu.faults.add("error", on="DV")
    with pytest.raises(B1500Error, match="error 100 after 'DV"):
        b.read()
    emu.faults.add("compliance")
    with pytest.raises(InstrumentError, match="status C \\(compliance\\)"):
        b.read()
    b.fault_events()
    emu.faults.add("partial", on="TI")  # a lost spot reply is asked again (issue 11 item 9)
    g = b.read()
    assert np.all(np.isfinite(g)) and emu.faults.fired[-1][0] == "partial"
    assert any("retry TI" in e for e in b.fault_events())
    b.close()


def test_runner_records_disconnect_and_resumes_over_tcp(tmp_path):
    runner = pytest.importorskip("hil.runner")
    from hil.store import Run
    served_station = Station.from_text(CTRL.format(addr="loopback"))
    with serve.start(served_station) as served:
        client = Station.from_text(CTRL.format(addr=served.by_name("ctrl").serial_url))
        emu = served.lab.emulators["ctrl"]
        emu.faults.add("disconnect", on="PROGRAM", after=7)
        out = tmp_path / "run.h5"
        params = {"cells": "0,0;1,1", "n_pot": 8, "n_dep": 8}
        b = client.make_backend()
        with pytest.raises(TransportError):
            runner.run_protocol("pulse_train", b, out, params, station=client,
                                progress=False, batch_steps=4)
        b.close()
        run = Run.open(out)
        assert run.attrs["status"] == "interrupted"
        assert "never repeated" in run.attrs["message"]
        assert emu.pulse_count > 0
        b2 = client.make_backend()
        runner.resume(out, backend=b2, progress=False)
        b2.close()
        ev = Run.open(out).read_events()
        assert Run.open(out).attrs["status"] == "complete"
        assert sorted(set(ev["step"].tolist())) == list(range(16))
        assert len(ev) == 16 * 2  # every step exactly once, 2 cells each
