"""The spot-read fast path's state checks: the bench's routing stamps (`bench.Routes`), the
quick ``TI`` after in-place routing and contact changes, and the one-cell kernel drawing
from the generator's own PCG64 state (`h1e1t_read.pcg64_words`, `read_one_at`) or, for
other bit generators, through ``random_raw``: the same values and random stream as the
array's bulk read."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from sim_backends import SimBackend
from sim_backends.arrays.h1e1t_read import pcg64_words
from sim_backends.emulators.b1500 import B1500Emulator
from sim_backends.emulators.bench import Bench, Routes

SETUP = ["CN 4,6", "DV 6,0,10,0.001", "DV 4,0,0.1,0.001"]


def _lab(own_lock: bool = False) -> B1500Emulator:
    """A B1500 on a 3x3 bench; ``own_lock``: a lock of its own (quick TI through `_read`)."""
    return B1500Emulator(Bench(SimBackend(shape=(3, 3), seed=11)),
                         lock=threading.RLock() if own_lock else None)


def _pins(bench: Bench, r: int, c: int) -> set[tuple[int, int]]:
    pins = {p: k + 1 for k, p in enumerate(bench.pins)}
    return {(2, pins[f"D{r}"]), (4, pins[f"T{c}"]), (1, pins[f"S{c}"])}


def test_routes_stamp_every_change():
    r = Routes({(1, 2)})
    seen = {r.stamp}
    for op in (lambda: r.add((2, 3)), lambda: r.discard((9, 9)), lambda: r.remove((2, 3)),
               lambda: r.update({(4, 5)}), lambda: r.difference_update({(4, 5)}),
               lambda: r.intersection_update({(1, 2)}),
               lambda: r.symmetric_difference_update({(6, 7)}), lambda: r.pop(),
               lambda: r.clear()):
        op()
        assert r.stamp not in seen
        seen.add(r.stamp)
    for op in ("__ior__", "__iand__", "__isub__", "__ixor__"):
        assert getattr(r, op)({(1, 1)}) is r and r.stamp not in seen
        seen.add(r.stamp)
    bench = Bench(SimBackend(shape=(2, 2), seed=0))
    routes = bench.routes
    bench.routes |= {(1, 1)}                 # in place: the same set, a new stamp
    assert bench.routes is routes and routes == {(1, 1)} and routes.stamp not in seen
    bench.routes = {(2, 2)}                  # assigned: copied into a new Routes
    assert isinstance(bench.routes, Routes) and bench.routes == {(2, 2)}
    assert bench.routes is not routes and bench.routes.stamp != routes.stamp


def _script(emu: B1500Emulator, quick: bool) -> list[bytes]:
    bench = emu.bench
    bench.routes = _pins(bench, 1, 2)
    out = []
    for line in SETUP + ["TI 4", "TI 4", "INPLACE", "TI 4", "TI 4", "SEPARATE", "TI 4",
                         "TI 4", "CONTACT", "TI 4", "TI 4", "MULTI", "TI 4", "TI 4",
                         "BACK", "TI 4", "TI 4", "TV 4", "TV 4", "CL 4", "TV 4", "ERRX?"]:
        if line == "INPLACE":                # the matrix moves the cell in the same set
            bench.routes.clear()
            bench.routes |= _pins(bench, 0, 1)
        elif line == "SEPARATE":
            bench.contact = False
        elif line == "CONTACT":
            bench.contact = True
        elif line == "MULTI":                # two cells on the drain line: no one-cell path
            bench.routes |= _pins(bench, 0, 2)
        elif line == "BACK":
            bench.routes -= _pins(bench, 0, 2)
            bench.routes |= _pins(bench, 0, 1)
        else:
            if not quick:
                emu._quick.clear()
            out.append(emu.feed(line.encode() + b"\n"))
    return out


@pytest.mark.parametrize("own_lock", [False, True])
def test_quick_ti_follows_routing_and_contact(own_lock):
    fast, full = _lab(own_lock), _lab(own_lock)
    got = _script(fast, quick=True)
    assert got == _script(full, quick=False)
    assert b"NDI+000.000E+00\r\n" in got             # separated: no current
    assert got[5] not in got[3:5]                    # the other cell after INPLACE
    assert fast._quick                               # answered quickly in between
    a, b = (e.bench.physics.array.rng.bit_generator.state for e in (fast, full))
    assert a == b


def test_pcg64_words_view_the_generator():
    bg = np.random.PCG64(5)
    words = pcg64_words(bg)
    lcg = bg.state["state"]
    assert words is not None and words.dtype == np.uint64
    assert int(words[1]) << 64 | int(words[0]) == lcg["state"]
    assert int(words[3]) << 64 | int(words[2]) == lcg["inc"]
    bg.random_raw(3)                                 # the view follows the generator
    assert int(words[1]) << 64 | int(words[0]) == bg.state["state"]["state"]
    assert pcg64_words(np.random.Philox(5)) is None
    assert pcg64_words(np.random.MT19937(5)) is None


def _same_stream(a: SimBackend, b: SimBackend) -> None:
    """Both arrays' generators give the same next draws (both advance alike)."""
    ga, gb = a.array.rng.bit_generator, b.array.rng.bit_generator
    assert ga.random_raw(3).tolist() == gb.random_raw(3).tolist()


@pytest.mark.parametrize("bit_generator", [None, np.random.Philox, np.random.SFC64])
def test_cell_reader_draws_as_the_bulk_read(bit_generator):
    a, b = SimBackend((3, 4), seed=2), SimBackend((3, 4), seed=2)
    if bit_generator is not None:                    # the random_raw fallback
        for s in (a, b):
            s.array.rng = np.random.Generator(bit_generator(9))
    readers = {(r, c): b.cell_reader(r, c) for r in (0, 2) for c in (1, 3)}
    cells = list(readers) * 4
    assert [a.read([r], [c], 0.3)[0, 0] for r, c in cells] == \
        [readers[rc](0.3) for rc in cells]
    _same_stream(a, b)
    a.array.rng.random(5)                            # other draws in between: still in step
    b.array.rng.random(5)
    assert a.read([2], [3], 0.5)[0, 0] == readers[2, 3](0.5)
    _same_stream(a, b)
    for s in (a, b):                                 # a new generator: the readers follow it
        s.array.rng = np.random.default_rng(4)
    assert a.read([0], [1], 0.2)[0, 0] == readers[0, 1](0.2)
    _same_stream(a, b)
    with pytest.raises(Exception, match="read voltage"):
        readers[0, 1](1.5)
    assert readers[0, 1](np.float32(0.25)) == a.read([0], [1], 0.25)[0, 0]
