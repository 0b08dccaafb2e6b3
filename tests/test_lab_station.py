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
rows = 2
cols = 2
{extra_backend}
[[instruments]]
name = "x"
driver = "{driver}"
address = "loopback"
""")


def test_bad_station_values_name_what_is_allowed():
    with pytest.raises(StationError, match="wiring = 'magic'; allowed"):
        InstrumentBackend.from_station(_station('wiring = "magic"'))
    with pytest.raises(StationError, match="needs exactly one instrument with driver = "
                                           "'array_controller'"):
        InstrumentBackend.from_station(_station(driver="b1500"))
    with pytest.raises(StationError, match="needs an instrument with driver = 'switch_matrix'"):
        InstrumentBackend.from_station(_station('wiring = "b1500_matrix"', driver="b1500"))
    with pytest.raises(StationError, match="programming = 'gpu'"):
        InstrumentBackend.from_station(_station('programming = "gpu"'))
    with pytest.raises(StationError, match="no emulator for driver 'oscilloscope'"):
        InstrumentBackend.from_station(_station(driver="oscilloscope"))


def test_backend_argument_errors():
    b = InstrumentBackend.from_station(_station())
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
