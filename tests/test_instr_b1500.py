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


@pytest.mark.parametrize("token, status, channel, kind, value", [
    # FMT 1 data as printed in PyMeasure's and QCoDeS's B1500 test suites
    ("NAI+000.005E-09", "N", 1, "I", 5e-12), ("NAV+001.500E+00", "N", 1, "V", 1.5),
    ("CAI+000.123E-06", "C", 1, "I", 0.123e-6), ("NAV-000.002E-01", "N", 1, "V", -0.2e-3),
    ("NAT+000.123E+00", "N", 1, "T", 0.123), ("NBC+001.000E-12", "N", 2, "C", 1e-12),
    ("VAV+199.999E+99", "V", 1, "V", 199.999e99), ("WbV+000.100E+00", "W", 202, "V", 0.1),
])
def test_parse_golden_fmt1_data(token, status, channel, kind, value):
    d = p.parse_datum(token)
    assert (d.status, d.channel, d.kind) == (status, channel, kind)
    assert d.value == pytest.approx(value)
    assert d.overflow == (status == "V")


def test_learn_sweep_settings_and_measurement_mode():
    # *LRN? replies as in QCoDeS's KeysightB1517A tests (compact, no space after the header)
    b, t = make([(w("*LRN? 33"), r("WM2,2;WT1.0,0.0,0.0,0.0,0.0;WV1,1,50,+3.0E+00,-3.0E+00,201")),
                 (w("*LRN? 31"), r("TM1;AV1,0;CM1;FMT1,0;MM2,4,5")),
                 (w("*LRN? 31"), r("TM1;AV1,0;CM1;FMT1,0")),
                 (w("*LRN? 46"), r("CMM 1,0"))])
    assert b.sweep_settings() == {"abort": 2, "post": 2, "hold_s": 1.0, "delay_s": 0.0,
                                  "channel": 1, "mode": 1, "start_V": 3.0, "stop_V": -3.0,
                                  "n": 201}
    assert b.measurement_mode() == (2, [4, 5])
    assert b.measurement_mode() is None
    assert b.learn(46) == [("CMM", ["1", "0"])]  # the spaced form parses too
    assert t.done
    with pytest.raises(InstrumentError, match="LRN"):
        p.parse_lrn("12,3")


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
