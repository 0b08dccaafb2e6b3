"""SIGTERM and SIGHUP behave like Ctrl-C; a second Ctrl-C never leaves an inconsistent file;
a real-clock wait ends at once on Ctrl-C (issue 11 item 5)."""
from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pytest

from hil.clock import RealClock
from hil.errors import RunInterrupted
from hil.runner import resume, run_protocol
from hil.store import Run
from sim_backends import SimBackend

PARAMS = {"cells": "0:2,0:2", "n_pot": 30, "n_dep": 30}


class SignalBackend(SimBackend):
    """The simulator, sending itself signals at the k-th pulse_cells call."""

    def __init__(self, plan: dict[int, list[int]], **kw):
        super().__init__(**kw)
        self.plan, self.calls = plan, 0

    def pulse_cells(self, mask, amplitude_V, width_s):
        self.calls += 1
        for sig in self.plan.get(self.calls, []):
            os.kill(os.getpid(), sig)
        return super().pulse_cells(mask, amplitude_V, width_s)


def _events(path):
    return Run.open(path).read_events()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _events(run_protocol("pulse_train", SimBackend(), tmp_path_factory.mktemp("ref") / "r.h5",
                                PARAMS, progress=False))


@pytest.mark.parametrize("signals", [[signal.SIGHUP], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
                         ids=["SIGHUP", "SIGTERM", "double-SIGINT"])
def test_signal_stops_cleanly_and_resume_is_exact(tmp_path, reference, signals):
    out = tmp_path / "s.h5"
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted) as e:
        run_protocol("pulse_train", SignalBackend({25: signals}), out, PARAMS, progress=False)
    assert e.value.signum == signals[0]
    run = Run.open(out)
    assert run.status == "interrupted"
    assert signal.Signals(signals[0]).name in run.attrs["message"]
    # one signal: the batch in flight (steps 20..39) is finished; two: it is dropped whole
    assert run.n_events() == (40 if len(signals) == 1 else 20) * 4
    assert run.read_history()[-1]["kind"] == "interrupt"
    assert signal.getsignal(signal.SIGTERM) == handler  # the handlers are restored
    resume(out, progress=False, backend=SimBackend())
    ev = _events(out)
    for field in reference.dtype.names:
        np.testing.assert_array_equal(ev[field], reference[field], err_msg=field)
    assert [h["kind"] for h in Run.open(out).read_history()] == ["start", "interrupt", "resume", "complete"]


def test_ctrl_c_during_a_real_clock_wait_is_honoured_at_once(tmp_path):
    """A retention gap of 60 s on a wall clock: Ctrl-C ends the wait, not the gap."""
    import threading

    b = SimBackend((2, 2), clock=RealClock())
    out = tmp_path / "w.h5"
    params = {"n_snapshots": 2, "t_first_s": 60.0, "horizon_s": 120.0, "max_pulses": 9}
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(RunInterrupted):
            run_protocol("retention", b, out, params, progress=False)
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 60.0  # never waited the gap out
    assert Run.open(out).status == "interrupted"


def test_cli_exit_code_is_128_plus_signal(tmp_path):
    """`hil run` stopped by SIGTERM (a stopped service) exits 143, one line on stderr, and
    leaves an interrupted file (the CLI runs in a forked child)."""
    import threading

    from hil import cli

    out, err = tmp_path / "t.h5", tmp_path / "stderr.txt"
    cli.build_parser()  # import the sub-commands here, not in the child
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        sys.stderr = open(err, "w")  # pytest's capture is not fd 2 in a forked child
        def stop_when_running():
            while not (out.exists() and Run.open(out).n_events() > 0):
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=stop_when_running, daemon=True).start()
        code = cli.main(["run", "pulse_train", "--out", str(out), "--no-progress",
                         "--set", "n_pot=3000", "--set", "n_dep=1"])
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    text = err.read_text()
    assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGTERM, text
    assert "interrupted" in text and "Traceback" not in text and len(text.strip().splitlines()) == 1
    assert Run.open(out).status == "interrupted"
