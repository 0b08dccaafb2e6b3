"""Byte-exact tests of the pulse generator, switch matrix and probe station drivers."""
from __future__ import annotations

import pytest

from hil.errors import InstrumentError, ParameterError
from hil.transport import ScriptedTransport
from instruments.probe_station import ProbeStation
from instruments.probe_station import commands as pc
from instruments.probe_station.driver import ProbeStationError
from instruments.pulsegen import PulseGenerator
from instruments.pulsegen.driver import PulseGeneratorError
from instruments.switch_matrix import SwitchMatrix
from instruments.switch_matrix import commands as mc

NOERR = b'+0,"No error"\n'


def w(cmd: str) -> bytes:
    return cmd.encode() + b"\n"


def ok(cmd: str):
    return [(w(cmd), None), (w("SYST:ERR?"), NOERR)]


# -- pulse generator ----------------------------------------------------------------------
def test_pulsegen_configure_burst_fire_exact_bytes():
    t = ScriptedTransport(
        [(w("*IDN?"), b"Agilent Technologies,33522B,MY1,5.02\n")]
        + ok("SOUR1:FUNC PULS") + ok("SOUR1:FUNC:PULS:PER 0.004") + ok("SOUR1:FUNC:PULS:WIDT 0.002")
        + ok("SOUR1:VOLT:LOW 0") + ok("SOUR1:VOLT:HIGH 10") + ok("SOUR1:BURS:NCYC 5")
        + ok("SOUR1:BURS:MODE TRIG") + ok("TRIG1:SOUR BUS") + ok("SOUR1:BURS:STAT ON")
        + ok("OUTP1 ON") + [(w("*TRG"), None), (w("*OPC?"), b"1\n")] + ok("OUTP1 OFF"))
    pg = PulseGenerator(t)
    assert pg.identify().startswith("Agilent")
    pg.configure(high_V=10, low_V=0, width_s=2e-3, period_s=4e-3)
    pg.burst(5)
    pg.output(True)
    pg.fire()
    pg.output(False)
    assert t.done


def test_pulsegen_channel2_and_error():
    t = ScriptedTransport([(w("SOUR2:BURS:NCYC 2"), None),
                           (w("SYST:ERR?"), b'-222,"Data out of range"\n'),
                           (w("SYST:ERR?"), NOERR)])
    with pytest.raises(PulseGeneratorError, match="-222.*Data out of range"):
        PulseGenerator(t, channel=2).write("SOUR2:BURS:NCYC 2")
    assert t.done


def test_pulsegen_validation():
    pg = PulseGenerator(ScriptedTransport([]))
    with pytest.raises(ParameterError, match="width_s < period_s"):
        pg.configure(1, 0, 2e-3, 1e-3)
    with pytest.raises(ParameterError, match="high_V"):
        pg.configure(-1, 0, 1e-3, 2e-3)
    with pytest.raises(ParameterError, match="burst count"):
        pg.burst(0)


# -- switch matrix ------------------------------------------------------------------------
def test_matrix_close_open_query_exact_bytes():
    t = ScriptedTransport(
        ok("ROUT:CLOS (@10101,10312)") + ok("ROUT:OPEN (@10312)") + ok("ROUT:OPEN:CARD 1")
        + [(w("ROUT:CLOS:CARD? 1"), b"(@10101,10205)\n")])
    m = SwitchMatrix(t)
    m.close([(1, 1), (3, 12)])
    m.open([(3, 12)])
    m.open_all()
    assert m.closed() == {(1, 1), (2, 5)}
    assert t.done


def test_matrix_route_touches_only_changes():
    t = ScriptedTransport([(w("ROUT:CLOS:CARD? 1"), b"(@10101,10205)\n")]
                          + ok("ROUT:OPEN (@10205)") + ok("ROUT:CLOS (@10302)"))
    SwitchMatrix(t).route([(1, 1), (3, 2)])
    assert t.done


def test_matrix_empty_list_and_errors():
    t = ScriptedTransport([(w("ROUT:CLOS:CARD? 1"), b"(@)\n"), (w("ROUT:CLOS (@10101)"), None),
                           (w("SYST:ERR?"), b'-222,"Data out of range"\n'),
                           (w("SYST:ERR?"), NOERR)])  # the rest of the queue is drained
    m = SwitchMatrix(t)
    assert m.closed() == set()
    m.close([])  # nothing to send
    with pytest.raises(InstrumentError, match="-222"):
        m.close([(1, 1)])
    assert t.done
    assert mc.parse_channel_list("@10101,10312") == [(1, 1, 1), (1, 3, 12)]
    with pytest.raises(InstrumentError, match="5 digits"):
        mc.parse_channel_list("(@1010)")
    with pytest.raises(ValueError):
        mc.channel(0, 1)


# -- probe station ------------------------------------------------------------------------
def test_prober_exact_bytes():
    t = ScriptedTransport([
        (w("*RCS 1"), None),
        (w("map:step_die 3,4,1"), b"0,0,3,4,1\n"),
        (w("move_chuck_contact"), b"0,0,10000\n"),
        (w("map:die:get_current_index"), b"0,0,3,4\n"),
        (w("get_chuck_xy"), b"0,0,15000,20000\n"),
        (w("get_chuck_z"), b"0,0,10000\n"),
        (w("move_chuck_separation"), b"0,0,9700\n")])
    ps = ProbeStation(t)
    ps.use_native_commands()
    assert ps.step_die(3, 4, 1) == (3, 4, 1)
    assert ps.contact() == 10000.0
    assert ps.current_die() == (3, 4)
    assert ps.position() == (15000.0, 20000.0, 10000.0)
    assert ps.separate() == 9700.0
    assert t.done


def test_prober_error_code_and_status_bits():
    t = ScriptedTransport([(w("map:step_die 99,0,0"), b"8,0,die outside the map\n")])
    with pytest.raises(ProbeStationError, match="error 8 \\(ArgumentOutOfBounds\\)"):
        ProbeStation(t).step_die(99, 0)
    rep = pc.parse_reply(f"{1024 | 0},7,1,2")
    assert rep.error == 0 and rep.status == pc.LAST_DIE and rep.cmd_id == 7
    with pytest.raises(InstrumentError):
        pc.parse_reply("x,y")
    with pytest.raises(InstrumentError, match="expected 2 numbers"):
        pc.floats("1", 2)
    assert pc.move_xy(1.5, 2) == "move_chuck_xy zero,1.5,2"


def test_pulsegen_settings_read_back():
    # 33500 reply forms (Operating and Service Guide examples): NR3 numbers, short-form
    # choices, 0/1 switches
    replies = {"SOUR1:FUNC?": "PULS", "SOUR1:FUNC:PULS:PER?": "+4.000000000000000E-03",
               "SOUR1:FUNC:PULS:WIDT?": "+2.000000000000000E-03",
               "SOUR1:VOLT:HIGH?": "+1.000000000000000E+01",
               "SOUR1:VOLT:LOW?": "+0.000000000000000E+00",
               "SOUR1:BURS:NCYC?": "+3.000000000000000E+00", "SOUR1:BURS:MODE?": "TRIG",
               "SOUR1:BURS:STAT?": "1", "TRIG1:SOUR?": "BUS", "OUTP1?": "1"}
    t = ScriptedTransport([(w(q), a.encode() + b"\n") for q, a in replies.items()])
    assert PulseGenerator(t).settings() == {
        "function": "PULS", "period_s": 4e-3, "width_s": 2e-3, "high_V": 10.0, "low_V": 0.0,
        "burst_count": 3.0, "burst_mode": "TRIG", "burst_on": True, "trigger_source": "BUS",
        "output_on": True}
    assert t.done


def test_matrix_card_0_auto_configuration():
    t = ScriptedTransport(ok("ROUT:CLOS (@00217)") + [(w("ROUT:CLOS:CARD? 0"), b"(@00217)\n")])
    m = SwitchMatrix(t, card=0)
    m.close([(2, 17)])
    assert m.closed() == {(2, 17)}
    assert t.done
