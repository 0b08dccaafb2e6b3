"""Lab stations: bundled examples, wiring checks, clear errors, the InstrumentKit guard."""
from __future__ import annotations

import sys
import types
from importlib import resources

import numpy as np
import pytest

from hil import serve
from hil.errors import ParameterError, StationError
from hil.lab import InstrumentBackend, check_instruments_package
from hil.station import Station

EXAMPLES = ("lab_array_controller.toml", "lab_b1500_matrix.toml", "emulated_lab.toml")


def example(name: str) -> Station:
    return Station.from_text((resources.files("hil_data") / "stations" / name).read_text())


@pytest.mark.parametrize("name", EXAMPLES)
def test_bundled_lab_stations_serve_and_connect(name):
    st = example(name)
    assert st.backend["type"] == "lab"
    with serve.start(st, use_station_ports=False) as served:  # ephemeral ports in tests
        text = st.text
        for inst, srv in served.servers:
            addr = srv.serial_url if inst["driver"] == "array_controller" else srv.visa_resource
            text = text.replace(f'"{inst["address"]}"', f'"{addr}"')
        b = Station.from_text(text).make_backend()
        assert isinstance(b, InstrumentBackend) and b.shape == (8, 8)
        g = b.read(rows=[0], cols=[0, 1])
        assert g.shape == (1, 2) and np.all(g > 0)
        b.close()


def test_address_port_parsing():
    assert serve.address_port("TCPIP::127.0.0.1::5025::SOCKET") == 5025
    assert serve.address_port("TCPIP0::localhost::7::SOCKET") == 7
    assert serve.address_port("socket://127.0.0.1:5601") == 5601
    assert serve.address_port("GPIB0::17::INSTR") is None


def _station(extra_backend: str = "", driver: str = "array_controller") -> Station:
    return Station.from_text(f"""
[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 2
cols = 2
{extra_backend if "wiring" in extra_backend else 'wiring = "array_controller"' + chr(10) + extra_backend}
[[instruments]]
name = "x"
driver = "{driver}"
address = "loopback"
""")


def test_bad_station_values_name_what_is_allowed():
    with pytest.raises(StationError, match="wiring = 'magic'; allowed"):
        _station('wiring = "magic"').make_backend()
    with pytest.raises(StationError, match="needs exactly one instrument with driver = "
                                           "'array_controller'"):
        _station(driver="b1500").make_backend()
    with pytest.raises(StationError, match="needs an instrument with driver = 'switch_matrix'"):
        _station('wiring = "b1500_matrix"', driver="b1500").make_backend()
    with pytest.raises(StationError, match="programming = 'gpu'"):
        _station('programming = "gpu"').make_backend()
    with pytest.raises(StationError, match="unknown driver 'oscilloscope'; allowed: b1500, "):
        _station(driver="oscilloscope")


def test_backend_argument_errors():
    b = _station().make_backend()
    with pytest.raises(ParameterError, match="mask must be a bool array of shape \\(2, 2\\)"):
        b.pulse_cells(np.ones((3, 3), bool), 1.0, 1e-3)
    with pytest.raises(ParameterError, match="pulse width"):
        b.pulse_cells(np.ones((2, 2), bool), 1.0, 0.0)
    with pytest.raises(ParameterError, match="rows"):
        b.read(rows=[5])
    with pytest.raises(Exception, match="DC source on the gate"):
        b.iv_sweep((0, 0), np.zeros(3), 1e-3)
    with pytest.raises(Exception, match="MTT readout circuitry"):
        b.mtt_read(None, 1.4, 0.6, 0.01)
    assert b.state_dict()["lab_wiring"] == "ControllerWiring"
    b.close()
    b.close()  # idempotent


def test_instrumentkit_shadowing_is_reported(monkeypatch):
    assert check_instruments_package().__hil__ is True
    fake = types.ModuleType("instruments")
    fake.__file__ = "/site-packages/instruments/__init__.py"
    monkeypatch.setitem(sys.modules, "instruments", fake)
    with pytest.raises(ImportError, match="InstrumentKit"):
        check_instruments_package()


def test_lab_layer_imports_no_simulator():
    """hil/lab/* never imports sim_backends: the station layer injects the emulated lab."""
    import ast
    from pathlib import Path
    lab = Path(__file__).resolve().parents[1] / "hil" / "lab"
    for path in sorted(lab.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "sim_backends" for n in names), path.name


class _Thermometer:
    """A toy driver: constructor without I/O, one query."""

    def __init__(self, transport, name="thermo", unit="C"):
        self.transport, self.name, self.unit = transport, name, unit

    def temperature(self) -> str:
        self.transport.write(b"TEMP?\n")
        return self.transport.read_until(b"\n").decode() + self.unit


class _ThermometerEmulator:
    def __init__(self, bench, lock=None):
        self.bench = bench

    def feed(self, data: bytes) -> bytes:
        return b"21.5\n" if data == b"TEMP?\n" else b""


def test_a_new_driver_is_one_registry_entry(monkeypatch, capsys):
    """Driver class + one `DriverSpec` + emulator: the station check, the factory, the
    emulated lab and `hil list` all see it."""
    from hil.cli import build_parser
    from hil.commands.list import main as hil_list
    from hil.lab import drivers
    spec = drivers.DriverSpec("thermometer", "toy thermometer (test)",
                              f"{__name__}:_Thermometer", f"{__name__}:_ThermometerEmulator",
                              options={"unit": ("unit", str, "C")})
    monkeypatch.setitem(drivers.REGISTRY, "thermometer", spec)
    st = Station.from_text(CTRL_WITH_EXTRA)
    b = st.make_backend()
    assert b.drivers["t"].temperature() == "21.5K"
    b.close()
    hil_list(build_parser().parse_args(["list"]))   # `hil list`, in process
    assert "thermometer" in capsys.readouterr().out


CTRL_WITH_EXTRA = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 2
cols = 2
wiring = "array_controller"
[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "loopback"
[[instruments]]
name = "t"
driver = "thermometer"
address = "loopback"
options = { unit = "K" }
"""
