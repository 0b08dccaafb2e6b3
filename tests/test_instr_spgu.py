"""Byte-exact tests of the SPGU (B1525A) driver."""
from __future__ import annotations

import pytest

from hil.errors import InstrumentError, ParameterError
from hil.transport import ScriptedTransport
from instruments.b1500 import B1500, SPGU


def w(cmd: str) -> bytes:
    return cmd.encode() + b"\n"


def ok(cmd: str):
    return [(w(cmd), None), (w("ERRX?"), b'+0,"No Error."\r\n')]


def spgu(script):
    t = ScriptedTransport(script)
    return SPGU(B1500(t), [101, 102]), t


def test_setup_configure_run_exact_bytes():
    script = (ok("SIM 0") + ok("SPPER 0.004") + ok("CN 101,102") + ok("SPM 101,1")
              + ok("SPM 102,1") + ok("SPT 101,1,0,0.002,2E-08,2E-08") + ok("SPV 101,1,0,10")
              + ok("ODSW 101,1,0") + ok("SPRM 1,3") + ok("SPUPD 101,102") + ok("SRP")
              + [(w("SPST?"), b"1\r\n"), (w("SPST?"), b"0\r\n")])
    s, t = spgu(script)
    s.setup(period_s=4e-3)
    s.configure(101, 0.0, 10.0, 2e-3)
    s.output_switch(101, True)
    s.run(3, poll_s=0)
    assert t.done


def test_stop_and_busy():
    s, t = spgu(ok("SPP") + [(w("SPST?"), b"0\r\n")])
    s.stop()
    assert s.busy() is False
    assert t.done


def test_validation_before_sending():
    s, t = spgu([])
    with pytest.raises(ParameterError, match="period_s"):
        s.setup(period_s=20.0)
    with pytest.raises(ParameterError, match="not one of"):
        s.configure(103, 0, 1, 1e-6)
    with pytest.raises(ParameterError, match="±40"):
        s.configure(101, 0, 41, 1e-6)
    with pytest.raises(ParameterError, match="count"):
        s.count(0)
    assert t.written == []


def test_width_must_fit_period():
    s, t = spgu(ok("SIM 0") + ok("SPPER 1E-06") + ok("CN 101,102") + ok("SPM 101,1")
                + ok("SPM 102,1"))
    s.setup(1e-6)
    with pytest.raises(ParameterError, match="delay\\+width < period"):
        s.configure(101, 0, 1, 2e-6)


def test_run_times_out_when_never_done():
    s, _ = spgu(ok("SPRM 1,1") + ok("SPUPD 101,102") + ok("SRP")
                + [(w("SPST?"), b"1\r\n")] * 50)
    s.period_s = 1e-3
    with pytest.raises(InstrumentError, match="still busy"):
        s.run(1, timeout_s=0.0, poll_s=0)


def test_odsw_builder_needs_both_times():
    from instruments.b1500 import commands as c
    assert c.odsw(101, True, 0, 1e-6, 2e-6) == "ODSW 101,1,0,1E-06,2E-06"
    with pytest.raises(ValueError):
        c.odsw(101, True, 0, 1e-6)


def test_read_back_parses_the_query_replies():
    # replies as in PyMeasure's SPGU tests (plain comma-separated numbers, spaces allowed)
    r = lambda x: x.encode() + b"\r\n"  # noqa: E731
    s, t = spgu([(w("SPT? 101,1"), r("0.0,1e-07,2e-08,3e-08")), (w("SPV? 101,1"), r("0.5, 2.0")),
                 (w("SPRM?"), r("1, 10")), (w("SPPER?"), r("0.5")), (w("SPM? 101"), r("1")),
                 (w("SER? 101"), r("100"))])
    assert s.read_back(101) == {"period_s": 0.5, "spm": 1, "delay_s": 0.0, "width_s": 1e-7,
                                "lead_s": 2e-8, "trail_s": 3e-8, "base_V": 0.5, "peak_V": 2.0,
                                "load_ohm": 100.0, "sprm": 1, "condition": 10.0}
    assert t.done
    s, _ = spgu([(w("SPT? 101,1"), r("0.0,1e-07"))])
    with pytest.raises(InstrumentError, match="SPT\\?: expected 4 numbers"):
        s.read_back(101)
