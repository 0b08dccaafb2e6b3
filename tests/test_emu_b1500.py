"""B1500A emulator: replies like the instrument (CR LF, FMT 1, ERRX? codes) and drives physics."""
from __future__ import annotations

import numpy as np
import pytest

from hil.backend import Lines
from instruments.b1500.parse import parse_data
from sim_backends import SimBackend
from sim_backends.emulators.b1500 import B1500Emulator, DEFAULT_UNT, ERRQ_MAX
from sim_backends.emulators.bench import Bench
from sim_backends.emulators.line import MAX_LINE


@pytest.fixture
def emu():
    bench = Bench(SimBackend(shape=(2, 2), seed=0))
    return B1500Emulator(bench)


def q(emu, line: str) -> str:
    out = emu.feed(line.encode() + b"\n")
    assert out == b"" or out.endswith(b"\r\n")
    return out.decode()[:-2] if out else ""


def errx(emu) -> str:
    return q(emu, "ERRX?")


def test_identification_and_empty_error_queue(emu):
    assert q(emu, "*IDN?").startswith("Agilent Technologies,B1500A,")
    assert q(emu, "UNT?") == DEFAULT_UNT
    assert errx(emu) == '+0,"No Error."'
    assert q(emu, "*OPC?") == "1"
    assert q(emu, "LOP?") == "LOP" + ",".join(["00"] * 10)


@pytest.mark.parametrize("line, code", [
    ("FOO 1", 100), ("*WAI 3", 103), ("DV 4,0,abc,0.1", 102), ("DV 4,0,nan,0.1", 102), ("DV 4", 103),
    ("DV 4,0,500,0.1", 120), ("CN 9", 305), ("TI 4", 200), ("FMT 3,0", 120), ("FMT 1,5", 120), ("MM 1", 122),
    ("SPV 101,1,0,50", 120), ("SRP", 200), ("SPPER 100", 120),
])
def test_bad_commands_queue_the_instruments_error(emu, line, code):
    assert q(emu, line) == ""
    reply = errx(emu)
    assert reply.startswith(f"+{code},\"")
    assert errx(emu) == '+0,"No Error."'


def test_error_queue_is_bounded(emu):
    for _ in range(ERRQ_MAX + 10):
        q(emu, "BAD")
    codes = [errx(emu) for _ in range(ERRQ_MAX + 1)]
    assert codes[:ERRQ_MAX] == ['+100,"Undefined GPIB command."'] * ERRQ_MAX
    assert codes[-1] == '+0,"No Error."'


def test_over_long_line_and_garbage_flood_are_bounded(emu):
    assert emu.feed(b"X" * (MAX_LINE * 3)) == b""
    assert len(emu._buf) <= MAX_LINE
    for _ in range(100):  # 100 x 64 KiB of garbage without a newline
        emu.feed(bytes(range(1, 256)).replace(b"\n", b"") * 257)
        assert len(emu._buf) <= MAX_LINE
    assert emu.feed(b"tail\n") == b""          # end of the discarded line
    assert q(emu, "*OPC?") == "1"              # and the instrument still answers
    assert errx(emu).startswith("+150,")


def test_lrn_reports_output_switches(emu):
    assert q(emu, "*LRN? 0") == "CL"
    q(emu, "CN 5,4,101")
    assert q(emu, "*LRN? 0") == "CN4,5,101"


def test_several_commands_on_one_line(emu):
    assert q(emu, "CN 4,5;DV 4,0,0.1,0.001;TV 4") == "NDV+100.000E-03"
    assert errx(emu) == '+0,"No Error."'
    assert q(emu, "LOP?").startswith("LOP00,00,00,01,01,00")


def _route_cell(bench, r, c):
    """D<r> to SMU4, T<c> to SMU6, S<c> to GNDU (matrix inputs 1-based, outputs pin order)."""
    pins = {p: k + 1 for k, p in enumerate(bench.pins)}
    bench.routes = {(2, pins[f"D{r}"]), (4, pins[f"T{c}"]), (1, pins[f"S{c}"])}


def test_spot_current_measures_cell_conductance(emu):
    phys = emu.bench.physics
    _route_cell(emu.bench, 1, 0)
    q(emu, "CN 4,6;DV 6,0,10,0.001;DV 4,0,0.1,0.001")
    d = parse_data(q(emu, "TI 4"))[0]
    g = float(phys.array.conductance([1], [0])[0, 0])
    assert d.status == "N" and d.channel == 4
    assert d.value == pytest.approx(g * 0.1, rel=2e-3)
    q(emu, "DV 6,0,0,0.001")  # selector off: no current path
    assert parse_data(q(emu, "TI 4"))[0].value == 0.0


def test_compliance_status(emu):
    _route_cell(emu.bench, 0, 0)
    q(emu, "CN 4,6;DV 6,0,10,0.001;DV 4,0,0.1,1E-12")
    d = parse_data(q(emu, "TI 4"))[0]
    assert d.status == "C" and d.value == pytest.approx(1e-12)


def test_spgu_pulses_drive_the_physics_like_apply_pulse(emu):
    pins = {p: k + 1 for k, p in enumerate(emu.bench.pins)}
    emu.bench.routes = {(6, pins["G0"])}
    for cmd in ["SIM 0", "SPPER 0.004", "CN 101", "SPM 101,1", "SPT 101,1,0,0.002,2E-08,2E-08",
                "SPV 101,1,0,10", "SPRM 1,5", "SPUPD 101", "SRP"]:
        assert q(emu, cmd) == "", cmd
    assert errx(emu) == '+0,"No Error."'
    assert q(emu, "SPST?") == "0"
    ref = SimBackend(shape=(2, 2), seed=0)
    lines = Lines(gate_rows=np.array([10.0, 0.0]), select_cols=np.zeros(2), drain=0.0, source=0.0)
    for k in range(5):
        ref.apply_pulse(lines, 2e-3)
        if k < 4:
            ref.wait(2e-3)
    got = emu.bench.physics.array.conductance()
    assert np.array_equal(got, ref.array.conductance())
    assert got[0, 0] > SimBackend(shape=(2, 2), seed=0).array.conductance()[0, 0]


def test_staircase_and_sampling_return_all_points(emu):
    _route_cell(emu.bench, 0, 1)
    q(emu, "CN 4,5,6;DV 6,0,10,0.001;DV 4,0,0.1,0.001")
    q(emu, "WV 5,1,0,0,1,5,0.001;WT 0,0.001;MM 2,4")
    data = parse_data(q(emu, "XE"))
    assert len(data) == 5 and all(d.kind == "I" and d.channel == 4 for d in data)
    q(emu, "MV 4,0,0,0.1,0.001;MT 0,0.001,7;MM 10,4")
    assert len(parse_data(q(emu, "XE"))) == 7
    assert errx(emu) == '+0,"No Error."'


def test_cls_clears_the_error_queue(emu):
    q(emu, "BAD;BAD")
    q(emu, "*CLS")
    assert errx(emu) == '+0,"No Error."'


def test_reset_clears_state(emu):
    q(emu, "CN 4;BAD")
    q(emu, "*RST")
    assert errx(emu) == '+0,"No Error."'
    assert q(emu, "TI 4") == "" and errx(emu).startswith("+200,")
