"""Runner behaviour on faults: failed status, interrupted on transport errors, read retries."""

import numpy as np
import pytest

from hil.errors import RunFileError, TransportError
from hil.runner import resume, run_protocol
from hil.station import Station
from hil.store import Run, make_events
from protocols.base import Protocol
from protocols.params import Param
from sim_backends import SimBackend

STATION = Station.load(None)
PARAMS = {"cells": "0:2,0:2", "n_pot": 30, "n_dep": 30}


class FlakyBackend(SimBackend):
    """The real simulator, with a fault injected on the n-th call of one method."""

    def __init__(self, method: str, nth: int, exc: Exception, **kw):
        super().__init__(**kw)
        self._fault = (method, nth, exc)
        self._calls = 0

    def _maybe_fail(self, method: str) -> None:
        name, nth, exc = self._fault
        if method == name:
            self._calls += 1
            if self._calls == nth:
                raise exc

    def pulse_cells(self, mask, amplitude_V, width_s):
        self._maybe_fail("pulse_cells")
        return super().pulse_cells(mask, amplitude_V, width_s)

    def read(self, rows=None, cols=None, v_read_V=None):
        self._maybe_fail("read")
        return super().read(rows, cols, v_read_V)


def _reference(tmp_path):
    return run_protocol("pulse_train", SimBackend(), tmp_path / "ref.h5", PARAMS,
                        station=STATION, progress=False)


def test_complete_run_has_final_checkpoint(tmp_path):
    path = _reference(tmp_path)
    run = Run.open(path)
    assert run.attrs["status"] == "complete" and run.read_checkpoint()["step"] == 59
    assert run.n_events() == 60 * 4


def test_exception_marks_failed_and_keeps_committed_batches(tmp_path):
    backend = FlakyBackend("pulse_cells", 25, RuntimeError("power supply tripped"))
    with pytest.raises(RuntimeError):
        run_protocol("pulse_train", backend, tmp_path / "f.h5", PARAMS, station=STATION, progress=False)
    run = Run.open(tmp_path / "f.h5")
    assert run.attrs["status"] == "failed" and "power supply tripped" in run.attrs["message"]
    assert "step 24" in run.attrs["message"]
    assert run.n_events() == 20 * 4  # the batch in flight (steps 20..24) is not half-written


def test_transport_error_on_a_pulse_interrupts_and_resume_is_exact(tmp_path):
    ref = Run.open(_reference(tmp_path)).read_events()
    backend = FlakyBackend("pulse_cells", 33, TransportError("VISA timeout", transient=True))
    out = tmp_path / "t.h5"
    with pytest.raises(TransportError):
        run_protocol("pulse_train", backend, out, PARAMS, station=STATION, progress=False)
    run = Run.open(out)
    assert run.attrs["status"] == "interrupted" and "never repeated" in run.attrs["message"]
    assert run.n_events() == 20 * 4
    resume(out, progress=False)  # rebuilds the simulated backend from the stored station text
    ev = Run.open(out).read_events()
    for field in ("G_S", "t_s", "V_V", "row", "col", "step"):
        np.testing.assert_array_equal(ev[field], ref[field], err_msg=field)


class ReadMaps(Protocol):
    """A read-only protocol: steps may be retried after a transient error."""
    name = "test_read_maps"
    idempotent_steps = True
    batch_steps = 2
    params = (Param("n", 5, kind="int", min=1),)

    def n_steps(self):
        return self.p.n

    def step(self, i, run):
        G = self.backend.read()
        run.append_map(self.backend.clock.now(), G)
        run.append_events(make_events(1, op="read", step=i, G_S=G.mean()))


def test_transient_read_error_is_retried_and_logged(tmp_path):
    backend = FlakyBackend("read", 3, TransportError("garbled reply", transient=True))
    path = run_protocol(ReadMaps, backend, tmp_path / "r.h5", {"n": 5}, progress=False)
    run = Run.open(path)
    assert run.attrs["status"] == "complete" and run.n_events() == 5
    faults = run.read_faults()
    assert len(faults) == 1 and faults[0]["step"] == 2 and "garbled reply" in faults[0]["message"]
    assert run.read_maps()[1].shape == (5, 8, 8)


def test_non_transient_read_error_is_not_retried(tmp_path):
    backend = FlakyBackend("read", 2, TransportError("instrument unplugged", transient=False))
    with pytest.raises(TransportError):
        run_protocol(ReadMaps, backend, tmp_path / "r.h5", {"n": 5}, progress=False)
    assert Run.open(tmp_path / "r.h5").attrs["status"] == "interrupted"


def test_bad_params_create_no_file(tmp_path):
    with pytest.raises(Exception, match="n_pot"):
        run_protocol("pulse_train", SimBackend(), tmp_path / "x.h5", {"n_pot": -1}, progress=False)
    assert not (tmp_path / "x.h5").exists()


class ReportingBackend(SimBackend):
    """A backend whose drivers handled a fault themselves (e.g. a retried read)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.pending = ["smu: read retried after a garbled reply"]

    def fault_events(self):
        out, self.pending = self.pending, []
        return out


def test_faults_handled_by_drivers_are_logged_in_the_run(tmp_path):
    path = run_protocol("pulse_train", ReportingBackend(), tmp_path / "f.h5", PARAMS, progress=False)
    faults = Run.open(path).read_faults()
    assert faults == [{"step": 19, "utc": faults[0]["utc"], "message": "smu: read retried after a garbled reply"}]



@pytest.mark.parametrize("checkpoint_s, committed_steps", [(None, 0), (0.0, 24)])
def test_a_long_batch_is_committed_after_checkpoint_s(tmp_path, checkpoint_s, committed_steps):
    """batch_steps = 100 > the 60 steps: without the wall-time interval (60 s default) nothing
    of the batch is committed before the crash at step 24; with checkpoint_s = 0 every finished
    step is, and the resumed run has exactly the events of an uninterrupted one."""
    ref = Run.open(_reference(tmp_path)).read_events()
    backend = FlakyBackend("pulse_cells", 25, RuntimeError("power supply tripped"))
    out = tmp_path / "c.h5"
    with pytest.raises(RuntimeError):
        run_protocol("pulse_train", backend, out, PARAMS, station=STATION, progress=False,
                     batch_steps=100, checkpoint_s=checkpoint_s)
    run = Run.open(out)
    assert run.attrs["status"] == "failed" and run.n_events() == committed_steps * 4
    assert int(run.read_checkpoint().get("step", -1)) == committed_steps - 1
    resume(out, progress=False)
    ev = Run.open(out).read_events()
    for field in ("G_S", "t_s", "V_V", "row", "col", "step"):
        np.testing.assert_array_equal(ev[field], ref[field], err_msg=field)


def test_checkpoint_s_is_checked(tmp_path):
    with pytest.raises(RunFileError, match="checkpoint_s"):
        run_protocol(ReadMaps, SimBackend(), tmp_path / "x.h5", progress=False, checkpoint_s=-1)
    assert not (tmp_path / "x.h5").exists()
