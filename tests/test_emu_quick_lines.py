"""Quick lines (a repeated ``TI``/``TV`` answered without the parser), the bench's one-cell
current and the arrays' `cell_reader`: the same replies, errors and random stream as the
full path."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sim_backends import SimBackend
from sim_backends.emulators import flex_data as fd
from sim_backends.emulators.b1500 import B1500Emulator
from sim_backends.emulators.bench import Bench

#: commands between the spot queries: each changes what ``TI 4`` / ``TV 4`` must answer
SCRIPT = [
    "CN 4,6", "DV 6,0,10,0.001", "DV 4,0,0.1,0.001", "TI 4", "TI 4", "TV 4", "TI 4",
    "DV 4,0,0.3,0.001", "TI 4", "TI4", "ti 4", "TI 4,0", "FMT 21", "TI 4", "TV 4", "FMT 2",
    "TI 4", "FMT 1", "DV 4,0,0.1,1E-12", "TI 4", "TI 4", "DV 4,0,0.1,0.001", "CL 4", "TI 4",
    "ERRX?", "CN 4", "TI 4", "TI 4;TI 4", "TI 4", "DV 6,0,0,0.001", "TI 4", "DV 6,0,10,0.001",
    "ROUTE", "TI 4", "PULSE", "TI 4", "*RST", "TI 4", "ERRX?", "CN 4,6", "DV 6,0,10,0.001",
    "DV 4,0,0.1,0.001", "TI 4", "TI 4",
]


def _lab(faults=None) -> B1500Emulator:
    bench = Bench(SimBackend(shape=(3, 3), seed=7, faults=faults))
    _route(bench, 1, 2)
    return B1500Emulator(bench)


def _route(bench: Bench, r: int, c: int) -> None:
    pins = {p: k + 1 for k, p in enumerate(bench.pins)}
    bench.routes = {(2, pins[f"D{r}"]), (4, pins[f"T{c}"]), (1, pins[f"S{c}"])}


def _run(emu: B1500Emulator, quick: bool) -> list[bytes]:
    out = []
    for line in SCRIPT:
        if line == "ROUTE":          # the matrix moves: another cell
            _route(emu.bench, 0, 1)
        elif line == "PULSE":        # the state changes under the cached reader
            emu.bench.physics.pulse_cells(np.ones((3, 3), bool), 9.0, 2e-3)
        else:
            if not quick:
                emu._quick.clear()   # every line takes the parser
            out.append(emu.feed(line.encode() + b"\n"))
    return out


def test_quick_lines_answer_like_the_parser():
    fast, full = _lab(), _lab()
    got = _run(fast, quick=True)
    assert got == _run(full, quick=False)
    assert fast._quick, "the repeated TI lines were answered quickly"
    assert b"TI 4;TI 4\n" not in fast._quick        # several commands: always the parser
    assert any(r.startswith(b"CDI") for r in got)   # compliance through the quick path
    assert b"" in got                               # channel off: error 200, no reply
    ra = fast.bench.physics.array.rng.bit_generator.state
    assert ra == full.bench.physics.array.rng.bit_generator.state   # same random stream


def test_quick_lines_keep_faults_and_held_data():
    emu = _lab()
    for line in ("CN 4,6", "DV 6,0,10,0.001", "DV 4,0,0.1,0.001", "TI 4"):
        emu.feed(line.encode() + b"\n")
    emu.faults.add("timeout", on="TI")
    assert emu.feed(b"TI 4\n") == b""               # the planned fault still fires
    emu.faults.add("compliance")
    assert emu.feed(b"TI 4\n").startswith(b"CDI")
    assert emu.feed(b"TI 4\n").startswith(b"NDI")
    s = emu.new_session(hold_s=10.0)               # XE data held: TI answers first, then the data
    s.feed(b"MM 1,4\n")
    assert s.feed(b"XE\n") == b""
    out = s.feed(b"TI 4\n")
    assert out.startswith(b"NDI") and out.count(b"\r\n") == 2 and not s.pending
    assert s.feed(b"TI") == b"" and s.feed(b" 4\n").startswith(b"NDI")   # split line


@pytest.mark.parametrize("faults", [None, {"stuck_on": [[1, 1]], "stuck_off": [[2, 0]],
                                           "dead_cols": [2]}])
def test_cell_reader_is_read_of_one_cell(faults):
    a, b = SimBackend((3, 3), seed=3, faults=faults), SimBackend((3, 3), seed=3, faults=faults)
    readers = {(r, c): b.cell_reader(r, c) for r in range(3) for c in range(3)}
    cells = list(readers) * 3

    def both():
        assert [a.read([r], [c], 0.2)[0, 0] for r, c in cells] == [readers[rc](0.2) for rc in cells]

    both()
    for s in (a, b):        # programming, new parameters and a resumed state: still in step
        s.pulse_cells(np.eye(3, dtype=bool), 9.0, 2e-3)
        s.array.params = dataclasses.replace(s.array.params, read_rel_sigma=0.05)
    both()
    state = a.state_dict()
    for s in (a, b):
        s.load_state_dict(state)
    both()
    assert a.read().tolist() == b.read().tolist()
    with pytest.raises(Exception, match="read voltage"):
        readers[0, 0](0.0)


def _value_text_reference(value: float, decimals: int) -> str:
    """`flex_data.value_text` as it was written before the shared formatter."""
    def text(m, e):
        return "%+0*.*fE%+03d" % (5 + decimals, decimals, m, e)
    a = abs(value)
    if not a < fd.DUMMY:
        return text(199.999, 99)
    if a == 0:
        return text(0.0, 0)
    exp = math.floor(math.log10(a))
    exp -= exp % 3
    mant = value / 10.0 ** exp
    if abs(mant) >= 999.99 and round(abs(mant), decimals) >= 1000.0:
        exp += 3
        mant = value / 10.0 ** exp
    return text(mant, exp)


def test_formatter_is_the_value_text():
    rng = np.random.default_rng(0)
    values = [0.0, -0.0, 1e-300, 1.0, -1.0, 999.9995e-9, 999.9994999e-9, 1e3, 1e-9,
              9.99999e-10, 1e300, float("nan"), float("inf"), -float("inf"), fd.DUMMY]
    values += list(rng.standard_normal(200) * 10.0 ** rng.integers(-15, 3, 200))
    for e in (-12, -9, -6, 0, 3):   # decade ends, each after a value inside the range below
        v = 10.0 ** e
        values += [v * 0.5, float(np.nextafter(v, 0)), v, float(np.nextafter(v, 2 * v)), v * 0.5,
                   -float(np.nextafter(v, 0)), v * 999.9995e-3, v * 999.99949e-3]
    for decimals in (3, 4):
        line = fd.formatter(decimals, b"NAI", b"\r\n")
        for v in values:
            ref = _value_text_reference(v, decimals)
            assert fd.value_text(v, decimals) == ref
            assert line(v) == b"NAI" + ref.encode() + b"\r\n"
    assert fd.datum_line(21, "N", 4, "I", "\r\n")(1.5e-9) == (fd.datum(21, "N", 4, "I", 1.5e-9)
                                                               + "\r\n").encode()
    # below any reading (where 10 ** e underflows to 0 the old code divided by zero): zero
    for v in (1e-322, -5e-324, 1e-301):
        assert fd.value_text(v, 3) == "+000.000E+00"
    with pytest.raises(ValueError, match="decimals"):
        fd.formatter(12)
