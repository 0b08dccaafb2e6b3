"""Teardown: after completion, an exception, a lost connection, Ctrl-C or SIGTERM every
instrument is back in a safe state, checked on the emulators and asked over the wire:
SMU outputs zeroed and disconnected (``DZ``/``CL``), SPGU outputs off, relays open, pulse
generator outputs off, array-controller lines at 0 V.  Constructors do no I/O."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hil import serve
from hil.backend import Lines
from hil.errors import InstrumentError, TransportError
from hil.lab.controller import ControllerWiring
from hil.lab.matrix import DEFAULT_ROLES, MatrixWiring
from hil.pins import DEFAULT_INPUTS
from hil.station import Station
from hil.transport import LoopbackTransport, open_transport
from instruments.array_controller import ArrayController
from instruments.b1500 import B1500
from instruments.pulsegen import PulseGenerator
from instruments.switch_matrix import SwitchMatrix

REPO = Path(__file__).resolve().parents[1]
BENCH = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 3
cols = 3
seed = 1
wiring = "b1500_matrix"
{roles}
[[instruments]]
name = "b1500"
driver = "b1500"
address = "{b1500}"
[[instruments]]
name = "matrix"
driver = "switch_matrix"
address = "{matrix}"
[[instruments]]
name = "pg"
driver = "pulsegen"
address = "{pg}"
"""
PG_ROLES = 'roles = { gate_pulse = "PG1", select_pulse = "PG2" }'
CTRL = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 4
cols = 4
wiring = "array_controller"
programming = "host"
[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "loopback"
"""
LINES = Lines(gate_rows=np.r_[10.0, 0, 0, 0], select_cols=np.r_[0.0, 6, 6, 6],
              drain=np.r_[6.0, 0, 0, 0], source=0.0)


def bench(roles: str = "", addr: str = "loopback") -> Station:
    return Station.from_text(BENCH.format(roles=roles, b1500=addr, matrix=addr, pg=addr))


def wire(emu):
    """A fresh client connection to an emulator (what a second program would see)."""
    return LoopbackTransport(emu, 2.0)


def assert_bench_safe(lab) -> None:
    b1500, mx, pg = (lab.emulators[n] for n in ("b1500", "matrix", "pg"))
    # over the wire: output switches open, no relay closed, pulse generator outputs off
    assert B1500(wire(b1500)).enabled() == []
    assert SwitchMatrix(wire(mx)).closed() == set()
    gen = PulseGenerator(wire(pg))
    assert [gen.ask(f"OUTP{ch}?") for ch in (1, 2)] == ["0", "0"]
    # on the emulators: every SMU sourcing 0 V, no port driving the bench
    assert b1500.enabled == set()
    assert all(v == 0.0 for _, v, _ in b1500.source.values())
    assert not lab.bench.routes and all(v == 0.0 for v in lab.bench.levels.values())


def use(b) -> None:
    """Pulse and read: SMUs, SPGU or pulse generator outputs and relays all get switched on."""
    mask = np.zeros((3, 3), bool)
    mask[1, 2] = True
    b.pulse_cells(mask, 9.0, 1e-3)
    b.read(rows=[1], cols=[2])


@pytest.mark.parametrize("roles", ["", PG_ROLES], ids=["spgu", "pulsegen"])
def test_completion_and_exception_leave_the_bench_safe(roles):
    with bench(roles).make_backend() as b:
        use(b)
        lab = b.emulated
        on = B1500(wire(lab.emulators["b1500"])).enabled()
        assert set(on) >= {4, 5, 6, 7}                   # outputs were live during the run
    assert_bench_safe(lab)
    with pytest.raises(ZeroDivisionError):
        with bench(roles).make_backend() as b:
            use(b)
            lab = b.emulated
            1 / 0
    assert_bench_safe(lab)
    assert b.teardown_failures == []


def test_controller_lines_idle_after_close_and_after_a_lost_connection():
    b = Station.from_text(CTRL).make_backend()
    emu = b.emulated.emulators["ctrl"]
    b.apply_pulse(LINES, 1e-3)
    assert np.any(emu.gate) and np.any(emu.drain)
    b.close()
    assert not (np.any(emu.gate) or np.any(emu.select) or np.any(emu.drain) or np.any(emu.source))
    # lost connection: the lines were set, the PULSE never arrived; teardown reconnects
    b = Station.from_text(CTRL).make_backend()
    emu = b.emulated.emulators["ctrl"]
    emu.faults.add("disconnect", on="PULSE")
    with pytest.raises(TransportError):
        with b:
            b.apply_pulse(LINES, 1e-3)
    assert emu.pulse_count == 0 and b.teardown_failures == []
    assert not (np.any(emu.gate) or np.any(emu.select) or np.any(emu.drain))


def test_lost_b1500_connection_mid_read_is_reconnected_for_the_safe_state():
    b = bench().make_backend()
    lab = b.emulated
    lab.emulators["b1500"].faults.add("disconnect", on="TI")
    with pytest.raises(TransportError):
        with b:
            b.read()                           # SMUs live, relays closed when the link drops
    assert b.teardown_failures == []
    assert_bench_safe(lab)


def test_an_instrument_that_cannot_be_made_safe_is_reported():
    b = Station.from_text(CTRL).make_backend()
    emu = b.emulated.emulators["ctrl"]
    emu.faults.add("disconnect", on="SET_LINES")

    def refuse():
        raise TransportError("connection refused", transient=False)

    b._reopen["ctrl"] = refuse
    with pytest.raises(InstrumentError, match="ctrl: .*may not be in a safe state|safe state.*ctrl"):
        with b:
            pass
    assert len(b.teardown_failures) == 1 and "connection refused" in b.teardown_failures[0]


def test_constructors_do_no_io():
    class Silent:  # any I/O on this transport fails the test
        timeout_s = 1.0

        def __getattr__(self, name):
            raise AssertionError(f"constructor did I/O: transport.{name}")

    t = Silent()
    card = {"kind": "ecram", "name": "x", "h1e1t": {"v_d_V": 6.0, "v_ss_V": 10.0}}
    b, mx, pg, ctrl = B1500(t), SwitchMatrix(t), PulseGenerator(t), ArrayController(t)
    MatrixWiring(b, mx, (2, 2), card, list(DEFAULT_INPUTS), dict(DEFAULT_ROLES), pg)
    ControllerWiring(ctrl, (2, 2), card, "host")


def _when_pulsing(lab, action) -> threading.Thread:
    """Run ``action`` from a helper thread once the emulated array has been pulsed."""
    def watch():
        deadline = time.monotonic() + 60
        while lab.physics.clock.now() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        action()
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def test_ctrl_c_during_a_run_leaves_the_bench_safe(tmp_path):
    """Ctrl-C (SIGINT to this process) while `hil run`'s runner pulses: the batch finishes,
    the run is marked interrupted and leaving the ``with`` block makes the bench safe."""
    from hil.errors import RunInterrupted
    from hil.runner import run_protocol
    from hil.store import Run
    st = bench(PG_ROLES)
    params = {"cells": "all", "n_pot": 100000, "n_dep": 0}
    with pytest.raises(RunInterrupted):
        with st.make_backend() as b:
            lab = b.emulated
            _when_pulsing(lab, lambda: os.kill(os.getpid(), signal.SIGINT))
            run_protocol("pulse_train", b, tmp_path / "run.h5", params, station=st,
                         progress=False, batch_steps=4)
    assert Run.open(tmp_path / "run.h5").attrs["status"] == "interrupted"
    assert b.teardown_failures == []
    assert_bench_safe(lab)


def test_sigterm_to_hil_run_leaves_the_bench_safe(tmp_path):
    """SIGTERM from another process to `hil run` on a served (TCP) bench."""
    with serve.start(bench(PG_ROLES)) as served:
        addr = {n: served.by_name(n).visa_resource for n in ("b1500", "matrix", "pg")}
        st = tmp_path / "lab.toml"
        st.write_text(BENCH.format(roles=PG_ROLES, b1500=addr["b1500"], matrix=addr["matrix"],
                                   pg=addr["pg"]))
        proc = subprocess.Popen(
            [sys.executable, "-m", "hil.cli", "run", "pulse_train", "--station", str(st),
             "--out", str(tmp_path / "run.h5"), "--no-progress",
             "--set", "cells=all", "--set", "n_pot=100000", "--set", "n_dep=0"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lab = served.lab
        try:
            _when_pulsing(lab, lambda: None).join(timeout=90)
            assert proc.poll() is None, proc.communicate()
            assert lab.emulators["b1500"].enabled      # live outputs while it runs
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert_bench_safe(lab)
        # and over a real socket, as a second program would ask
        drv = B1500(open_transport(addr["b1500"], 5.0))
        assert drv.enabled() == []
        drv.transport.close()


def test_a_second_ctrl_c_during_teardown_waits_until_the_bench_is_safe():
    b = bench().make_backend()
    use(b)
    lab = b.emulated
    drv = b.drivers["b1500"]
    send = drv.safe_state

    def interrupted_then_send():       # Ctrl-C arrives while the teardown is under way
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        send()

    drv.safe_state = interrupted_then_send
    with pytest.raises(KeyboardInterrupt):
        b.close()
    assert b.teardown_failures == []
    assert_bench_safe(lab)
