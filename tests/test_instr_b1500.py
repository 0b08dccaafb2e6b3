"""Byte-exact tests of the B1500A driver: every method, the exact bytes sent, replies parsed.

Replies are the strings a real B1500A (firmware A.06) sends, CR LF terminated (REFERENCE §8).
"""
from __future__ import annotations

import math

import pytest

from hil.errors import InstrumentError, ParameterError
from hil.transport import ScriptedTransport
from instruments.b1500 import B1500
from instruments.b1500 import commands as c
from instruments.b1500 import parse as p
from instruments.b1500.driver import B1500Error

IDN = "Agilent Technologies,B1500A,MY55231213,A.06.02.2023.0401"
UNT = "B1525A,0;B1530A,0;B1530A,0;B1517A,0;B1517A,0;B1517A,0;B1511B,1;B1520A,0;0,0;0,0"
OK = '+0,"No Error."'


def w(cmd: str) -> bytes:
    return cmd.encode() + b"\n"


def r(reply: str) -> bytes:
    return reply.encode() + b"\r\n"


def ok(cmd: str) -> list[tuple[bytes, bytes | None]]:
    """A command followed by its ERRX? check."""
    return [(w(cmd), None), (w("ERRX?"), r(OK))]


def make(script) -> tuple[B1500, ScriptedTransport]:
    t = ScriptedTransport(script)
    return B1500(t), t


def test_identify_and_discover_real_replies():
    b, t = make([(w("*IDN?"), r(IDN)), (w("UNT?"), r(UNT))])
    assert b.identify() == IDN
    assert b.discover() == {1: "SPGU", 2: "WGFMU", 3: "WGFMU", 4: "HRSMU", 5: "HRSMU",
                            6: "HRSMU", 7: "MPSMU", 8: "CMU"}
    assert b.smu_channels() == [4, 5, 6, 7]
    assert b.spgu_channels() == [101, 102]
    assert t.done


def test_setup_selects_fmt1():
    b, t = make([(w("UNT?"), r(UNT))] + ok("FMT 1,0"))
    b.setup()
    assert t.done


@pytest.mark.parametrize("call, cmd", [
    (lambda b: b.enable([4, 5]), "CN 4,5"),
    (lambda b: b.enable(), "CN"),
    (lambda b: b.disable([4]), "CL 4"),
    (lambda b: b.disable(), "CL"),
    (lambda b: b.force_voltage(4, 6, 1e-9), "DV 4,0,6,1E-09"),
    (lambda b: b.force_voltage(5, -0.1, 1e-3, vrange=11), "DV 5,11,-0.1,0.001"),
    (lambda b: b.force_current(4, 1e-6, 2), "DI 4,0,1E-06,2"),
    (lambda b: b.zero([4]), "DZ 4"),
    (lambda b: b.integration(1, 2, 1), "AIT 1,2,1"),
    (lambda b: b.integration(0, 3, 2e-6), "AIT 0,3,2E-06"),
])
def test_configuration_commands_are_error_checked(call, cmd):
    b, t = make(ok(cmd))
    call(b)
    assert t.written == [w(cmd), w("ERRX?")]
    assert t.done


def test_error_queue_raises_with_code_and_drains():
    b, t = make([(w("DV 4,0,200,0.1"), None), (w("ERRX?"), r('+120,"Incorrect parameter value."')),
                 (w("ERRX?"), r('+100,"Undefined GPIB command."')), (w("ERRX?"), r(OK))])
    with pytest.raises(B1500Error, match=r"120.*DV 4,0,200,0.1.*Incorrect parameter value") as e:
        b.force_voltage(4, 200, 0.1)
    assert e.value.code == 120
    assert t.done


def test_force_rejects_bad_compliance_before_sending():
    b, t = make([])
    with pytest.raises(ParameterError, match="compliance_A must be > 0"):
        b.force_voltage(4, 1.0, 0.0)
    with pytest.raises(ParameterError, match="compliance_V"):
        b.force_current(4, 1e-6, -1)
    assert t.written == []


def test_spot_current_and_voltage_parse_fmt1():
    b, t = make([(w("TI 4"), r("NDI+000.005E-09")), (w("TV 4"), r("NDV+001.500E+00"))])
    d = b.spot_current(4)
    assert (d.status, d.channel, d.kind) == ("N", 4, "I")
    assert d.value == pytest.approx(5e-12) and d.ok and not d.compliance
    assert b.spot_voltage(4).value == 1.5
    assert t.done


def test_spot_compliance_and_overflow_statuses():
    b, _ = make([(w("TI 4"), r("CDI+000.123E-06")), (w("TI 4"), r("VDI+199.999E+99"))])
    d = b.spot_current(4)
    assert d.compliance and not d.ok and d.value == pytest.approx(0.123e-6)
    d = b.spot_current(4)
    assert d.overflow and math.isnan(d.si)


def test_enabled_channels_from_lrn():
    b, t = make([(w("*LRN? 0"), r("CN4,5,101")), (w("*LRN? 0"), r("CL"))])
    assert b.enabled() == [4, 5, 101]
    assert b.enabled() == []
    assert t.done
    with pytest.raises(InstrumentError, match="LRN"):
        p.parse_lrn0("XX")


def test_opc_sync():
    b, t = make([(w("*OPC?"), r("1"))])
    b.wait_opc(timeout_s=30)
    assert t.done


def test_staircase_sweep_exact_bytes_and_data():
    data = "NDI+001.000E-09,NDI+002.000E-09,NDI+003.000E-09"
    b, t = make(ok("WV 5,1,0,0,1,3,0.001") + ok("WT 0,0.01") + ok("MM 2,4")
                + [(w("XE"), r(data))])
    out = b.staircase_sweep(5, 0.0, 1.0, 3, 1e-3, meas_chs=[4], delay_s=0.01)
    assert [d.value for d in out] == pytest.approx([1e-9, 2e-9, 3e-9])
    assert t.done


def test_sampling_exact_bytes():
    b, t = make(ok("MV 4,0,0,0.1,0.001") + ok("MT 0,0.002,2") + ok("MM 10,4")
                + [(w("XE"), r("NDI+010.000E-06,NDI+010.100E-06"))])
    out = b.sampling(4, 0.1, 1e-3, 2e-3, 2)
    assert [d.value for d in out] == pytest.approx([10e-6, 10.1e-6])
    assert t.done


def test_sweep_and_sampling_limits():
    b, t = make([])
    with pytest.raises(ParameterError, match="1..10001"):
        b.staircase_sweep(4, 0, 1, 0, 1e-3)
    with pytest.raises(ParameterError, match="1..100001"):
        b.sampling(4, 0.1, 1e-3, 1e-3, 0)
    assert t.written == []


def test_check_errors_off_sends_only_the_command():
    t = ScriptedTransport([(w("CN 4"), None)])
    B1500(t, check_errors=False).enable([4])
    assert t.done


# -- pure builders and parsers ------------------------------------------------------------
def test_builders():
    assert c.fmt() == "FMT 1,0"
    assert c.mm(1, [4]) == "MM 1,4"
    assert c.cmm(4, 1) == "CMM 4,1" and c.ri(4, 0) == "RI 4,0" and c.aad(4, 1) == "AAD 4,1"
    assert c.av(10, 1) == "AV 10,1"
    assert c.mt(0, 1e-3, 100) == "MT 0,0.001,100"
    assert c.lop() == "LOP?" and c.reset() == "*RST"


def test_parse_unt_rejects_wrong_slot_count():
    with pytest.raises(InstrumentError, match="9 slots, expected 10"):
        p.parse_unt(";".join(["0,0"] * 9))


def test_parse_errx_formats():
    assert p.parse_errx(OK) == (0, "No Error.")
    assert p.parse_errx('+100,"Undefined GPIB command."') == (100, "Undefined GPIB command.")
    with pytest.raises(InstrumentError, match="cannot parse error-queue reply"):
        p.parse_errx("garbage")


@pytest.mark.parametrize("token", ["NAI+000.005E-0", "NAI000.005E-09", "QAI+000.005E-09", ""])
def test_parse_bad_datum(token):
    with pytest.raises(InstrumentError):
        p.parse_data(token)


def test_format_datum_round_trips():
    for v in (5e-12, 1.5, -0.123e-6, 0.0, 1e-3, 12345.0, -7.25e-9):
        s = p.format_datum("N", 4, "I", v)
        assert len(s) == 15
        assert p.parse_datum(s).value == pytest.approx(v, rel=1e-3, abs=1e-15)
    assert p.format_datum("V", 1, "I", float("inf")) == "VAI+199.999E+99"
    assert p.parse_datum("VAI+199.999E+99").overflow


def test_channel_letters():
    from instruments.b1500.constants import channel_letter, letter_channel
    assert [channel_letter(ch) for ch in (1, 4, 10, 101, 102, 902)] == ["A", "D", "J", "A", "a", "i"]
    assert letter_channel("b") == 202 and letter_channel("D") == 4
    with pytest.raises(ValueError):
        channel_letter(11)


def test_long_sweep_gets_a_long_read_timeout():
    """A 2001-point sweep with 10 ms steps must not trip the 5 s default timeout."""
    class Recording(ScriptedTransport):
        def read_until(self, terminator, timeout_s=None):
            self.timeouts.append(timeout_s)
            return super().read_until(terminator, timeout_s)
    t = Recording(ok("WV 4,1,0,0,1,2001,0.001") + ok("WT 0,0.01") + ok("MM 2,4")
                  + [(w("XE"), r("NDI+001.000E-09"))])
    t.timeouts = []
    B1500(t).staircase_sweep(4, 0.0, 1.0, 2001, 1e-3, delay_s=0.01)
    assert t.timeouts[-1] >= 2001 * 0.01 + 5.0
    assert all(x is None for x in t.timeouts[:-1])  # error checks use the default
