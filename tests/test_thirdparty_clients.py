"""Shared fixtures of the third-party client tests: `hil serve` of a bundled station on free
loopback ports (the same servers, sessions and threads as the CLI), and cell routing."""
from __future__ import annotations

from importlib import resources

import pytest

from hil import serve
from hil.station import Station

#: matrix inputs of the bundled stations (hil.pins.DEFAULT_INPUTS): 1 GNDU, 2 SMU4, 3 SMU5,
#: 4 SMU6, 5 SMU7, 6 SPGU101, 7 SPGU102, 8 PG1, 9 PG2
GNDU, SMU4, SMU6, SPGU101, PG1 = 1, 2, 4, 6, 8


def bundled(name: str) -> Station:
    text = (resources.files("hil_data") / "stations" / f"{name}.toml").read_text()
    return Station.from_text(text)


def served(name: str):
    """``hil serve --station <name> --port 0`` in this process; yields (served, resources)."""
    s = serve.start(bundled(name), free_ports=True)
    try:
        yield s, {inst["name"]: srv.visa_resource for inst, srv in s.servers}
    finally:
        s.stop()


def pin(s, name: str) -> int:
    """Matrix output number of array pin ``name`` (``G0``, ``T0``, ``D0``, ``S0``)."""
    return s.lab.bench.pins.index(name) + 1


def cell_paths(s, r: int = 0, c: int = 0) -> list[tuple[int, int]]:
    """D<r> <- SMU4, T<c> <- SMU6 (selector), S<c> <- GNDU, G<r> <- SPGU101: the matrix
    paths that let SMU4 measure cell (r, c) and the SPGU program it."""
    return [(SMU4, pin(s, f"D{r}")), (SMU6, pin(s, f"T{c}")), (GNDU, pin(s, f"S{c}")),
            (SPGU101, pin(s, f"G{r}"))]


def _unt(name: str) -> str:
    return next(i for i in bundled(name).instruments if i["driver"] == "b1500")["options"]["unt"]


def test_bundled_stations_advertise_only_emulated_modules():
    from sim_backends.emulators.b1500 import parse_unt
    assert sorted(parse_unt(_unt("emulated_lab")).items()) == [
        (1, "SPGU"), (4, "HRSMU"), (5, "HRSMU"), (6, "HRSMU"), (7, "MPSMU")]
    assert sorted(parse_unt(_unt("emulated_lab_smu")).items()) == [
        (4, "HRSMU"), (5, "HRSMU"), (6, "HRSMU"), (7, "MPSMU")]


def test_an_unemulated_module_is_refused():
    from hil.errors import StationError
    from sim_backends.emulators.b1500 import parse_unt
    with pytest.raises(StationError, match="B1520A"):
        parse_unt("B1520A,0;0,0;0,0;0,0;0,0;0,0;0,0;0,0;0,0;0,0")
