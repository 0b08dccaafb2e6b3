"""FLEX and SCPI grammar of the emulators, checked against bytes the clients really send
(PyMeasure 0.16 / QCoDeS 0.58 command strings), the B1500A replies of REFERENCE §8 and the
field widths of the manuals' data formats."""
from __future__ import annotations

import time

import pytest

from sim_backends import SimBackend
from sim_backends.emulators.b1500 import B1500Emulator
from sim_backends.emulators.bench import Bench
from sim_backends.emulators.pulsegen import PulseGenEmulator
from sim_backends.emulators.switch_matrix import SwitchMatrixEmulator


@pytest.fixture
def bench():
    return Bench(SimBackend(shape=(2, 2), seed=0))


@pytest.fixture
def b(bench):
    return B1500Emulator(bench)


def raw(emu, line: bytes) -> bytes:
    return emu.feed(line)


def q(emu, line: str) -> str:
    return emu.feed(line.encode() + b"\r\n").decode().rstrip("\r\n")


def errs(emu, query="ERRX?") -> list[str]:
    out = []
    while True:
        e = q(emu, query)
        if e.startswith(("+0,", "+0")) and "No" in e:
            return out
        out.append(e)


# -- FLEX ------------------------------------------------------------------------------------
def test_real_reply_bytes(b):
    assert raw(b, b"ERRX?\n") == b'+0,"No Error."\r\n'                    # REFERENCE §8
    assert raw(b, b"LOP?\n") == b"LOP00,00,00,00,00,00,00,00,00,00\r\n"   # REFERENCE §8
    idn = raw(b, b"*IDN?\n").decode()
    assert idn.endswith("\r\n") and idn.split(",")[:2] == ["Agilent Technologies", "B1500A"]
    unt = raw(b, b"UNT? 0\n").decode().rstrip("\r\n").split(";")
    assert len(unt) == 10 and all(len(s.split(",")) == 2 for s in unt)


@pytest.mark.parametrize("line", [
    "WV4, 1, 0, 0.0, 0.5, 11, 0.001",      # PyMeasure staircase_sweep_source
    "MV4, 0, 0, 0.1, 0.001",               # PyMeasure sampling_source
    "WV 4,1,0,0.0,0.0,1",                  # QCoDeS (no compliance yet)
    "CN4,5", "CN 4, 5", "FMT 1, 0", "FMT11", "FMT 21,1", "TSC 1", "AZ 0", "CM 0", "PAD 1",
    "FL 1, 4", "SSR 4, 1", "RV 4, 0", "RM 4, 2, 50", "WAT 1, 2, 0.001", "ML 1", "MSC 2, 2",
    "BC", "AB", "RZ", "PA 0", "TSR", "SPT 101, 1, 0.0, 1e-07, 2e-08",  # trail time optional
])
def test_client_command_bytes_are_accepted(b, line):
    q(b, "CN 4,5,101")
    assert q(b, line) == ""
    assert errs(b) == [], line


def test_own_lrn_reply_is_a_valid_command(b):
    q(b, "CN 5,4")
    lrn = q(b, "*LRN? 0")
    assert lrn == "CN4,5"
    q(b, "CL")
    assert q(b, lrn) == "" and q(b, "*LRN? 0") == "CN4,5" and errs(b) == []


@pytest.mark.parametrize("typ, prefix", [
    (30, "FL0"), (31, "TM1;AV1,0;CM1;FMT1,0"), (32, "RI4,0;RV4,0"), (33, "WM1,1;WT"),
    (46, "CMM4,0"), (47, "MSC1,1;ML1;MT"), (53, "SSR4,0"), (54, "RM4,1,50"), (55, "AAD4,0"),
    (56, "AIT0,0,1;AIT1,0,6"), (57, "WAT1,1,0"), (60, "TSC0"), (61, "SIM0;SPPER"), (110, "PAD0"),
    (4, "CL4"), (1, "SPM101,0;SPM102,0"),
])
def test_lrn_types_the_clients_query(b, typ, prefix):
    assert q(b, f"*LRN? {typ}").startswith(prefix)


def test_lrn_reflects_settings(b):
    q(b, "CN 4;DV 4,0,0.25,1E-4;MM 2,4;WV 4,1,0,0,0.5,6,0.001;WM 2,2;FMT 21,1")
    assert q(b, "*LRN? 4") == "DV4,0,+2.5000E-01,+1.0000E-04,0,0"
    assert q(b, "*LRN? 31").endswith("FMT21,1;MM2,4")
    assert q(b, "*LRN? 33").startswith("WM2,2;WT+0.0000E+00,") and \
        q(b, "*LRN? 33").endswith("WV4,1,0,+0.0000E+00,+5.0000E-01,6,+1.0000E-03")


@pytest.mark.parametrize("fmt, width, example", [
    (1, 15, "NDI+"), (2, 12, "+"), (11, 16, "NDI+"), (12, 13, "+"), (21, 18, "000DI+"),
])
def test_data_format_widths(b, fmt, width, example):
    """Record widths of FMT 1/11/21 (+1 separator = 16/17/19 as in PyMeasure's parsers)."""
    q(b, f"CN 4;DV 4,0,0.1,0.001;FMT {fmt},0")
    d = q(b, "TI 4")
    assert len(d) == width and d.startswith(example)


def test_staircase_mode_1_appends_the_source_value(b):
    q(b, "CN 4;FMT 1,1;WV 4,1,0,0,0.2,3,0.001;MM 2,4")
    data = q(b, "XE").split(",")
    assert len(data) == 6
    assert [d[:3] for d in data[1::2]] == ["WDV", "WDV", "EDV"]
    assert float(data[-1][3:]) == pytest.approx(0.2)
    q(b, "FMT 21,1")
    assert q(b, "XE").split(",")[1][3:5] == "Dv"  # FMT 21 source data: lower case type


def test_auto_abort_stops_at_compliance(b):
    pins = {p: k + 1 for k, p in enumerate(b.bench.pins)}
    b.bench.routes = {(2, pins["D0"]), (4, pins["T0"]), (1, pins["S0"])}
    q(b, "CN 4,6;DV 6,0,10,0.001;WV 4,1,0,0.5,1.0,3,1E-12;WM 2,1;MM 2,4")
    data = q(b, "XE").split(",")
    assert data[0].startswith("CDI") and all(d == "VDI+199.999E+99" for d in data[1:])


def test_spgu_readbacks(b):
    for cmd in ["SIM 0", "SPPER 0.004", "SPM 101,1", "SPT 101,1,0,0.002,2E-08,3E-08",
                "SPV 101,1,0,10", "SPRM 1,5", "SER 101,1E6", "ODSW 101,1,0"]:
        assert q(b, cmd) == "", cmd
    assert (q(b, "SIM?"), q(b, "SPPER?"), q(b, "SPM? 101")) == ("0", "+4.000000E-03", "1")
    assert [float(x) for x in q(b, "SPT? 101,1").split(",")] == [0, 0.002, 2e-8, 3e-8]
    assert [float(x) for x in q(b, "SPV? 101,1").split(",")] == [0, 10]
    assert q(b, "SPRM?") == "1,5" and float(q(b, "SER? 101")) == 1e6
    assert q(b, "ODSW? 101").startswith("1,0,")


def test_held_xe_data_follow_an_opc_reply(b):
    s = b.new_session(hold_s=0.2)
    q(b, "CN 4;MM 1,4")
    assert s.feed(b"XE\n") == b""            # measuring: data held
    assert s.feed(b"*OPC?\n").startswith(b"1\r\nNDI")  # *OPC? answered first, data follow
    assert s.feed(b"XE\n") == b"" and s.next_due() is not None
    time.sleep(0.25)
    assert s.poll().startswith(b"NDI")       # or the data come when the hold elapses
    assert s.feed(b"XE;BC\n") == b"" and s.next_due() is None  # BC drops held data


def test_sessions_have_their_own_input_buffers(b):
    s1, s2 = b.new_session(), b.new_session()
    assert s1.feed(b"*ID") == b""
    assert s2.feed(b"*OPC?\n") == b"1\r\n"
    assert s1.feed(b"N?\n").startswith(b"Agilent Technologies")


# -- SCPI ------------------------------------------------------------------------------------
@pytest.fixture
def pg(bench):
    return PulseGenEmulator(bench)


@pytest.mark.parametrize("setter, query, reply", [
    ("SOURce1:FREQuency 1000.0", "SOUR1:FREQ?", "+1.00000000000000E+03"),     # QCoDeS long form
    ("FREQ 250.000000", "FREQuency?", "+2.50000000000000E+02"),               # PyMeasure
    ("SOURce2:FUNCtion:PULSE:WIDTh 2e-4", "SOUR2:FUNC:PULS:WIDT?", "+2.00000000000000E-04"),
    ("SOURce1:BURSt:NCYCles 7", "SOURce1:BURSt:NCYCLes?", "+7.00000000000000E+00"),
    ("FUNC:PULS:TRAN:BOTH 1.000000e-08", "FUNC:PULS:TRAN?", "+1.00000000000000E-08"),
    ("OUTP:LOAD INF", "OUTP:LOAD?", "+9.90000000000000E+37"),
    ("SOUR1:FREQ MAX", "SOUR1:FREQ?", "+3.00000000000000E+07"),
    ("TRIGger1:SOURce BUS", "TRIG:SOUR?", "BUS"),
    ("BURS:MODE TRIGGERED", "BURS:MODE?", "TRIG"),
    ("SOURce1:FUNCtion PULSe", "FUNC?", "PULS"),
    ("OUTPut1 1", "OUTP?", "1"),
    ("VOLT:UNIT VRMS", "VOLT:UNIT?", "VRMS"),
])
def test_scpi_long_short_forms_and_replies(pg, setter, query, reply):
    assert q(pg, setter) == ""
    assert q(pg, query) == reply
    assert q(pg, "SYST:ERR?") == '+0,"No error"'


def test_scpi_queries_of_min_max_and_compound_messages(pg):
    assert q(pg, "FREQ? MIN;FREQ? MAX") == "+1.00000000000000E-06;+3.00000000000000E+07"
    assert q(pg, "SOUR1:VOLT:HIGH 2;LOW 1;:SOUR1:VOLT?") == "+1.00000000000000E+00"
    assert q(pg, "FREQU 1") == "" and q(pg, "SYST:ERR?").startswith("-113,")  # no letter rule


def test_ieee488_common_commands_and_status(pg):
    assert q(pg, "*ESR?") == "+0"
    q(pg, "BOGUS")
    assert q(pg, "*STB?") == "+4"                 # error queue not empty
    assert q(pg, "*ESR?") == "+32" and q(pg, "*ESR?") == "+0"  # command error, read clears
    q(pg, "*ESE 32;*SRE 32")
    q(pg, "FREQ 1e12")                            # execution error: ESR bit 16, not enabled
    assert (q(pg, "*ESE?"), q(pg, "*SRE?")) == ("+32", "+32")
    q(pg, "*CLS")
    assert q(pg, "SYST:ERR?") == '+0,"No error"' and q(pg, "*ESR?") == "+0"
    q(pg, "*OPC")
    assert q(pg, "*ESR?") == "+1" and q(pg, "*OPC?") == "1" and q(pg, "*TST?") == "+0"


def test_error_queue_overflow(pg):
    for _ in range(25):
        q(pg, "BOGUS")
    codes = [q(pg, "SYST:ERR?").split(",")[0] for _ in range(21)]
    assert codes == ["-113"] * 19 + ["-350", "+0"]


def test_matrix_card_0_ranges_and_single_route(bench):
    mx = SwitchMatrixEmulator(bench)
    assert q(mx, ":CLOS (@00101:00103)") == ""
    assert bench.routes == {(1, 1), (1, 2), (1, 3)}
    assert q(mx, ":CLOS:CARD? 0") == "(@00101,00102,00103)"
    assert q(mx, "ROUTe:CLOSe:CARD? 1") == "(@10101,10102,10103)"
    assert q(mx, ":OPEN? (@00101,00204)") == "0,1"
    q(mx, ":CONN:RULE 0,SROU")
    q(mx, ":CLOS (@00205)")
    assert q(mx, ":CONN:RULE? 0") == "SROU" and (2, 5) in bench.routes
    q(mx, ":OPEN:CARD 0")
    assert bench.routes == set() and q(mx, ":SYST:ERR?") == '+0,"No error"'
