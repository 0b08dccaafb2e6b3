"""Pulse generator, switch matrix, prober and array-controller emulators: replies and errors."""
from __future__ import annotations

import numpy as np
import pytest

from instruments.array_controller import frame as f
from instruments.array_controller import messages as m
from sim_backends import SimBackend
from sim_backends.emulators.array_controller import ArrayControllerEmulator
from sim_backends.emulators.b1500 import B1500Emulator
from sim_backends.emulators.bench import Bench
from sim_backends.emulators.probe_station import ProbeStationEmulator
from sim_backends.emulators.pulsegen import PulseGenEmulator
from sim_backends.emulators.scpi_parser import compile_pattern, match, parse_message, split_tokens
from sim_backends.emulators.switch_matrix import SwitchMatrixEmulator


@pytest.fixture
def bench():
    return Bench(SimBackend(shape=(2, 2), seed=0))


def q(emu, line):
    return emu.feed(line.encode() + b"\n").decode().rstrip("\r\n")


def test_scpi_short_and_long_forms_from_the_table():
    nodes = compile_pattern("[SOURce#:]FUNCtion:PULSe:WIDTh")
    for header, suffix in [("SOURce2:FUNCtion:PULSe:WIDTh", [2]), ("sour1:func:puls:widt", [1]),
                           ("FUNC:PULSE:WIDTH", [1]), ("SOURCE:FUNCTION:PULSE:WIDTH", [1])]:
        assert match(nodes, split_tokens(header)) == suffix, header
    for header in ("SOURC:FUNC:PULS:WIDT", "SOUR:FUNC:PULS", "FUNC:PUL:WIDT", "SOUR:FUNC2:PULS:WIDT"):
        assert match(nodes, split_tokens(header)) is None, header  # no letter rule, no prefix
    burst = compile_pattern("[SOURce#:]BURSt:NCYCles")
    assert match(burst, split_tokens("BURS:NCYCLES")) == [1]


def test_scpi_compound_messages_keep_the_subsystem():
    units = parse_message("SOUR1:VOLT:HIGH 1;LOW 0;:OUTP1 ON;*TRG;*WAI")
    assert [(u.header, u.params) for u in units] == [
        ("SOUR1:VOLT:HIGH", ("1",)), ("SOUR1:VOLT:LOW", ("0",)), ("OUTP1", ("ON",)),
        ("*TRG", ()), ("*WAI", ())]


def test_pulsegen_errors_and_queries(bench):
    pg = PulseGenEmulator(bench)
    assert q(pg, "*IDN?").startswith("Agilent Technologies,33522B")
    for line, code in [("FOO", -113), ("SOUR1:VOLT:HIGH 50", -222), ("SOUR1:VOLT:HIGH", -109),
                       ("SOUR1:FUNC:PULS:WIDT abc", -104), ("SOUR1:FUNC:PULS:WIDT 1.2.3", -121), ("SOUR3:FUNC PULS", -113)]:
        assert q(pg, line) == ""
        assert q(pg, "SYST:ERR?").startswith(f"{code},"), line
    assert q(pg, "SYST:ERR?") == '+0,"No error"'
    q(pg, "SOUR1:FUNC:PULS:PER 0.004")
    assert float(q(pg, "SOUR1:FUNC:PULS:PER?")) == 0.004


def test_pulsegen_burst_pulses_the_array(bench):
    pg = PulseGenEmulator(bench)
    pins = {p: k + 1 for k, p in enumerate(bench.pins)}
    bench.routes = {(8, pins["G1"])}  # PG1 -> EG of row 1
    g0 = bench.physics.array.conductance().copy()
    for cmd in ["SOUR1:FUNC PULS", "SOUR1:FUNC:PULS:PER 0.004", "SOUR1:FUNC:PULS:WIDT 0.002",
                "SOUR1:VOLT:LOW 0", "SOUR1:VOLT:HIGH 10", "SOUR1:BURS:NCYC 3",
                "SOUR1:BURS:MODE TRIG", "TRIG1:SOUR BUS", "SOUR1:BURS:STAT ON", "OUTP1 ON", "*TRG"]:
        q(pg, cmd)
    assert q(pg, "SYST:ERR?") == '+0,"No error"'
    g1 = bench.physics.array.conductance()
    assert np.all(g1[1] > g0[1])            # row 1 potentiated
    assert q(pg, "OUTP1?") == "1"


def test_matrix_routes_and_errors(bench):
    mx = SwitchMatrixEmulator(bench)
    q(mx, "ROUT:CLOS (@10101,10203)")
    assert q(mx, "ROUT:CLOS:CARD? 1") == "(@10101,10203)"
    assert q(mx, "ROUT:CLOS? (@10101,10102)") == "1,0"
    q(mx, "ROUT:OPEN (@10101)")
    assert bench.routes == {(2, 3)}
    q(mx, "ROUT:OPEN:CARD ALL")
    assert bench.routes == set()
    for line, code in [("ROUT:CLOS (@19901)", -222), ("ROUT:CLOS 10101", -102), ("ROUT:XYZ", -113)]:
        q(mx, line)
        assert q(mx, "SYST:ERR?").startswith(f"{code},"), line


def test_prober_contact_gates_the_measurement(bench):
    ps = ProbeStationEmulator(bench)
    b = B1500Emulator(bench)
    pins = {p: k + 1 for k, p in enumerate(bench.pins)}
    bench.routes = {(2, pins["D0"]), (4, pins["T0"]), (1, pins["S0"])}
    q(b, "CN 4,6;DV 6,0,10,0.001;DV 4,0,0.1,0.001")
    assert float(q(b, "TI 4")[3:]) > 0
    assert q(ps, "move_chuck_separation") == "0,0,9700"
    assert float(q(b, "TI 4")[3:]) == 0.0
    assert q(ps, "map:step_die 2,3") == "0,0,2,3,0"
    assert q(ps, "map:die:get_current_index") == "0,0,2,3"
    assert q(ps, "move_chuck_contact") == "0,0,10000"
    assert q(ps, "get_chuck_xy") == "0,0,10000,15000"
    assert q(ps, "map:step_die 99,0").startswith("8,0,")
    assert q(ps, "map:step_die 1").startswith("7,0,")
    assert q(ps, "map:step_die a,b").startswith("6,0,")
    assert q(ps, "fly_to_moon").startswith("4,0,")


# -- array controller ---------------------------------------------------------------------
@pytest.fixture
def ctrl():
    return ArrayControllerEmulator(SimBackend(shape=(2, 3), seed=0))


def ask(emu, typ, payload=b"", rid=5):
    out = emu.feed(f.pack(f.Frame(typ, rid, payload)))
    assert out.endswith(b"\x00") and out.count(b"\x00") == 1
    return f.unpack(out)


def err(fr):
    assert fr.type == m.ERROR
    return m.parse_error(fr.payload)[0]


def test_controller_identify_status_and_pulse_counter(ctrl):
    ident = m.parse_identity(ask(ctrl, m.IDENTIFY).payload)
    assert (ident.version, ident.rows, ident.cols) == (1, 2, 3)
    r = ask(ctrl, m.SET_LINES, m.set_lines([10, 0], [0, 0, 0], 0, 0), rid=6)
    assert (r.type, r.request_id, r.payload) == (m.SET_LINES | m.REPLY, 6, b"")
    assert m.parse_counter(ask(ctrl, m.PULSE, m.pulse(1e-3, 4, 2e-3)).payload) == 4
    assert m.parse_status(ask(ctrl, m.STATUS).payload).pulse_count == 4


@pytest.mark.parametrize("typ, payload, code", [
    (0x42, b"", m.E_TYPE),
    (m.SET_LINES, m.set_lines([1], [0, 0, 0], 0, 0), m.E_LENGTH),
    (m.SET_LINES, m.set_lines([99, 0], [0, 0, 0], 0, 0), m.E_RANGE),
    (m.PULSE, b"\x01", m.E_LENGTH),
    (m.READ_ROW, m.read_row(7, 0.1), m.E_RANGE),
    (m.READ_ARRAY, m.read_array(0.0), m.E_RANGE),
    (m.READ_ARRAY, m.read_array(5.0), m.E_RANGE),   # the ECRAM physics allows |V| <= 1 V
    (m.PROGRAM, m.program(1, np.ones((2, 3), bool), 10.0, 1e-3), m.E_RANGE),
])
def test_controller_rejects_bad_requests(ctrl, typ, payload, code):
    assert err(ask(ctrl, typ, payload)) == code
    assert m.parse_status(ask(ctrl, m.STATUS).payload).last_error == code


def test_controller_bad_crc_version_and_garbage(ctrl):
    wire = bytearray(f.pack(f.Frame(m.STATUS, 9))[:-1])
    wire[-1] ^= 0xFF
    assert err(f.unpack(ctrl.feed(bytes(wire) + b"\x00"))) == m.E_CRC
    assert err(f.unpack(ctrl.feed(f.pack(f.Frame(m.STATUS, 9, b"", version=9))))) == m.E_VERSION
    out = b""
    for _ in range(20):  # 20 x 64 KiB of bytes without a delimiter: bounded, then an error
        out += ctrl.feed(b"\x55" * 65536)
        assert len(ctrl._buf) <= f.MAX_WIRE
    assert err(f.unpack(out.split(b"\x00")[0])) == m.E_LENGTH
    assert err(f.unpack(ctrl.feed(b"\x00"))) == m.E_FRAME  # a delimiter flushes the rest
    assert ask(ctrl, m.STATUS).type == m.STATUS | m.REPLY   # still serving


def test_controller_read_matches_physics(ctrl):
    cur = m.parse_currents(ask(ctrl, m.READ_ARRAY, m.read_array(0.1)).payload, (2, 3))
    g = ctrl.physics.array.conductance()
    assert np.allclose(cur / np.float32(0.1), g, rtol=1e-3)
    row = m.parse_currents(ask(ctrl, m.READ_ROW, m.read_row(1, 0.1)).payload, (3,))
    assert np.allclose(row / np.float32(0.1), g[1], rtol=1e-3)
