"""Typed station config: unknown keys, wrong types, absurd sizes, lab device/wiring required,
instruments checked against the one driver registry (issue 12, item 1)."""
from __future__ import annotations

import pytest

from hil.errors import StationError
from hil.station import Station
from hil.station_config import LabConfig, SimConfig

LAB = """[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 4
cols = 4
{backend}
[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "loopback"
{inst}
"""


def lab(backend: str = 'wiring = "array_controller"', inst: str = "") -> Station:
    return Station.from_text(LAB.format(backend=backend, inst=inst))


def sim(extra: str) -> Station:
    return Station.from_text(f'[backend]\ntype = "sim"\ndevice = "ecram_wox_lipon"\n{extra}\n')


def test_typed_objects():
    st = lab('wiring = "array_controller"\nprogramming = "host"', 'options = { timeout_s = 2 }')
    cfg = st.config.backend
    assert isinstance(cfg, LabConfig) and cfg.wiring == "array_controller" and cfg.programming == "host"
    assert cfg.shape == (4, 4) and cfg.array == "h1e1t"          # the array type from the card's family
    assert st.config.instruments[0].options == {"timeout_s": 2.0} and st.config.instruments[0].loopback
    s = Station.from_text('[backend]\ntype = "sim"\ndevice = "rram_hfox_1t1r"\nscheme = "V/2"\n')
    assert isinstance(s.config.backend, SimConfig) and s.config.backend.array == "1t1r"
    assert s.config.backend.array_options == {"scheme": "V/2"}
    assert s.make_backend().array.scheme == "V/2"


@pytest.mark.parametrize("backend, message", [
    ('wirng = "b1500_matrix"', r"unknown key\(s\) \['wirng'\]; allowed: type, device, array, rows, cols, seed, "
                               r"faults, wiring, programming"),
    ('wiring = "array_controller"\nprograming = "host"', r"unknown key\(s\) \['programing'\]"),
    ('wiring = "array_controller"\nprogramming = "gpu"', "programming = 'gpu'; allowed: 'firmware', 'host'"),
    ('wiring = "b1500_matrix"\nprogramming = "host"', "programming applies to wiring 'array_controller' only"),
    ('wiring = "magic"', r"wiring = 'magic'; allowed: \['array_controller', 'b1500_matrix'\]"),
    ('wiring = "array_controller"\nscheme = "V/3"', r"unknown key\(s\) \['scheme'\]"),   # a 1T1R option
    ('wiring = "array_controller"\narray = "1t1r"', "array = '1t1r' does not fit device 'ecram_wox_lipon'"),
])
def test_lab_typos_and_bad_values_are_rejected(backend, message):
    with pytest.raises(StationError, match=message):
        lab(backend)


def test_lab_needs_device_and_wiring_no_hidden_default():
    # the README's example station switched to type = "lab": the error names what to write,
    # not the array_controller wiring the user never asked for
    text = '[backend]\ntype = "lab"\narray = "h1e1t"\ndevice = "ecram_wox_lipon"\nrows = 8\ncols = 8\n' \
           '[[instruments]]\nname = "smu"\ndriver = "b1500"\naddress = "TCPIP::127.0.0.1::5025::SOCKET"\n'
    with pytest.raises(StationError, match="lacks wiring: a lab station must name its device card .* and "
                                           "its wiring \\(one of array_controller, b1500_matrix\\)"):
        Station.from_text(text)
    with pytest.raises(StationError, match="lacks device"):
        Station.from_text(text.replace('device = "ecram_wox_lipon"\n', 'wiring = "b1500_matrix"\n'))


@pytest.mark.parametrize("value", ['"8"', "8.7", "true", "inf", "1e30", "0", "-3", "100000"])
def test_bad_sizes(value):
    with pytest.raises(StationError, match="rows = .*; allowed: an integer in 1..65536"):
        sim(f"rows = {value}")


def test_arrays_that_cannot_fit_in_memory_are_refused_before_allocation():
    with pytest.raises(StationError, match="rows x cols = 65536 x 65536 = 4294967296 cells: too large"):
        sim("rows = 65536\ncols = 65536")
    big = 10**6
    with pytest.raises(StationError, match="rows = 1000000"):
        sim(f"rows = {big}\ncols = {big}")


@pytest.mark.parametrize("extra, message", [
    ("seed = -1", r"seed = -1; allowed: an integer"), ("seed = 1.5", "seed = 1.5"),
    ('device = "nope"', "device card 'nope' not found"),
    ('faults = 3', "faults must be a table"),
    ('program_by = "diagonal"', "program_by = 'diagonal'; allowed: rows, cols"),
])
def test_bad_sim_values(extra, message):
    text = f'[backend]\ntype = "sim"\n{extra}\n'
    with pytest.raises(StationError, match=message):
        Station.from_text(text)


@pytest.mark.parametrize("inst, message", [
    ('options = { timeout_s = "5" }', r"options: timeout_s = '5'; allowed: a finite number"),
    ("options = { timeout_s = inf }", "timeout_s = inf"),
    ("options = { speed = 3 }", r"unknown key\(s\) \['speed'\]; allowed: timeout_s, baudrate, backend"),
    ('adress = "x"', r"unknown key\(s\) \['adress'\]"),
    ("options = 5", "options must be a table"),
])
def test_instrument_options_are_typed_per_driver(inst, message):
    with pytest.raises(StationError, match=message):
        lab(inst=inst)


def test_instruments_unique_and_registered():
    dup = '\n[[instruments]]\nname = "ctrl"\ndriver = "pulsegen"\naddress = "loopback"\n'
    with pytest.raises(StationError, match="name 'ctrl' is used twice"):
        lab(inst=dup)
    with pytest.raises(StationError, match="unknown driver 'scope'; allowed: b1500, pulsegen, switch_matrix"):
        lab(inst='\n[[instruments]]\nname = "s"\ndriver = "scope"\naddress = "x"\n')
    pg = '\n[[instruments]]\nname = "pg"\ndriver = "pulsegen"\naddress = "loopback"\noptions = { channel = 1.5 }\n'
    with pytest.raises(StationError, match="channel = 1.5; allowed: an integer"):
        lab(inst=pg)
    with pytest.raises(StationError, match=r"\[\[instruments\]\] belong to a lab station"):
        Station.from_text('[backend]\ntype = "sim"\n[[instruments]]\nname = "a"\ndriver = "b1500"\naddress = "x"\n')


def test_bundled_stations_parse_and_replace_revalidates():
    import dataclasses
    from importlib import resources

    for f in ("default_sim.toml", "emulated_lab.toml", "lab_array_controller.toml", "lab_b1500_matrix.toml"):
        Station.from_text((resources.files("hil_data") / "stations" / f).read_text())
    st = Station.load(None)
    with pytest.raises(StationError, match="rows = 0"):
        dataclasses.replace(st, backend={**st.backend, "rows": 0})
    assert dataclasses.replace(st, backend={**st.backend, "rows": 3}).config.backend.rows == 3
