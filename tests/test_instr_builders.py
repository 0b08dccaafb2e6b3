"""Every pure command builder, exact text (the drivers add only the LF terminator)."""
from __future__ import annotations

import pytest

from instruments._line import fmt_num
from instruments.b1500 import commands as b
from instruments.probe_station import commands as ps
from instruments.pulsegen import commands as pg
from instruments.switch_matrix import commands as mx

CASES = [
    # B1500A mainframe / SMU
    (b.idn(), "*IDN?"), (b.reset(), "*RST"), (b.opc(), "*OPC?"), (b.unt(), "UNT?"),
    (b.errx(), "ERRX?"), (b.lop(), "LOP?"), (b.xe(), "XE"), (b.lrn(0), "*LRN? 0"),
    (b.fmt(), "FMT 1,0"), (b.fmt(21, 1), "FMT 21,1"),
    (b.cn([1, 2, 101]), "CN 1,2,101"), (b.cn(), "CN"), (b.cl([3]), "CL 3"), (b.cl(), "CL"),
    (b.dv(1, 6, 1e-9, 5), "DV 1,5,6,1E-09"), (b.di(2, -1e-6, 10), "DI 2,0,-1E-06,10"),
    (b.dz(), "DZ"), (b.dz([4, 5]), "DZ 4,5"),
    (b.mm(1, [4]), "MM 1,4"), (b.mm(10, [4, 5]), "MM 10,4,5"), (b.cmm(4, 1), "CMM 4,1"),
    (b.ri(4, -14), "RI 4,-14"), (b.ti(4), "TI 4"), (b.tv(5), "TV 5"),
    (b.wv(4, -8, 8, 161, 1e-3), "WV 4,1,0,-8,8,161,0.001"),
    (b.wv(4, 0, 1, 11, 1e-6, mode=3, vrange=11), "WV 4,3,11,0,1,11,1E-06"),
    (b.wt(0.1, 0.01), "WT 0.1,0.01"), (b.mt(0, 1e-3, 100), "MT 0,0.001,100"),
    (b.mv(4, 0, 0.1, 1e-3), "MV 4,0,0,0.1,0.001"),
    (b.ait(1, 2, 1), "AIT 1,2,1"), (b.aad(4, 0), "AAD 4,0"), (b.av(10, 1), "AV 10,1"),
    # SPGU
    (b.sim(0), "SIM 0"), (b.sim(1), "SIM 1"), (b.spper(5e-3), "SPPER 0.005"),
    (b.spm(101), "SPM 101,1"), (b.spm(102, 0), "SPM 102,0"),
    (b.spt(101, 1, 0, 2e-3, 2e-8, 2e-8), "SPT 101,1,0,0.002,2E-08,2E-08"),
    (b.spv(102, 1, 0, -7), "SPV 102,1,0,-7"),
    (b.sprm(0), "SPRM 0"), (b.sprm(1, 180), "SPRM 1,180"), (b.sprm(2, 0.5), "SPRM 2,0.5"),
    (b.spupd([101, 102]), "SPUPD 101,102"), (b.srp(), "SRP"), (b.spp(), "SPP"),
    (b.spst(), "SPST?"), (b.odsw(101, False), "ODSW 101,0,0"), (b.ser(101, 50), "SER 101,50"),
    # pulse generator
    (pg.idn(), "*IDN?"), (pg.reset(), "*RST"), (pg.opc(), "*OPC?"), (pg.err(), "SYST:ERR?"),
    (pg.trigger(), "*TRG"), (pg.func_pulse(2), "SOUR2:FUNC PULS"),
    (pg.period(1, 1e-3), "SOUR1:FUNC:PULS:PER 0.001"), (pg.width(1, 5e-6), "SOUR1:FUNC:PULS:WIDT 5E-06"),
    (pg.high(1, 2.5), "SOUR1:VOLT:HIGH 2.5"), (pg.low(2, -1), "SOUR2:VOLT:LOW -1"),
    (pg.burst_count(1, 180), "SOUR1:BURS:NCYC 180"), (pg.burst_mode_triggered(), "SOUR1:BURS:MODE TRIG"),
    (pg.burst_state(1, False), "SOUR1:BURS:STAT OFF"), (pg.trigger_source(2, "EXT"), "TRIG2:SOUR EXT"),
    (pg.output(2, True), "OUTP2 ON"), (pg.output_query(1), "OUTP1?"),
    # switch matrix
    (mx.idn(), "*IDN?"), (mx.err(), "SYST:ERR?"), (mx.opc(), "*OPC?"),
    (mx.close([(1, 1), (12, 34)], card=2), "ROUT:CLOS (@20101,21234)"),
    (mx.open_([(3, 4)]), "ROUT:OPEN (@10304)"), (mx.open_all(), "ROUT:OPEN:CARD ALL"),
    (mx.open_all(1), "ROUT:OPEN:CARD 1"), (mx.closed_query(1), "ROUT:CLOS:CARD? 1"),
    # probe station (SENTIO)
    (ps.idn(), "*IDN?"), (ps.rcs_native(), "*RCS 1"), (ps.step_die(1, 2), "map:step_die 1,2,0"),
    (ps.current_die(), "map:die:get_current_index"), (ps.contact(), "move_chuck_contact"),
    (ps.separate(), "move_chuck_separation"), (ps.chuck_xy(), "get_chuck_xy"),
    (ps.chuck_z(), "get_chuck_z"), (ps.format_reply(8, "bad", 1024, 3), "1032,3,bad"),
]


@pytest.mark.parametrize("got, want", CASES, ids=[w for _, w in CASES])
def test_builder_exact_text(got, want):
    assert got == want


def test_fmt_num_and_bad_values():
    assert [fmt_num(x) for x in (6.0, -0.1, 1e-9, 0.002, 12345.678, 1e15)] == \
        ["6", "-0.1", "1E-09", "0.002", "12345.68", "1E+15"]
    with pytest.raises(ValueError, match="non-finite"):
        fmt_num(float("nan"))
    with pytest.raises(ValueError, match="channel must be 1 or 2"):
        pg.func_pulse(3)
    with pytest.raises(ValueError, match="trigger source"):
        pg.trigger_source(1, "NOW")
