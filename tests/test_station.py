"""Station files: the embedded default, and clear errors for malformed ones."""
import pytest

from hil.errors import StationError
from hil.station import Station


def test_default_station_is_a_simulated_ecram_array():
    st = Station.load(None)
    assert st.backend["type"] == "sim" and st.backend["device"] == "ecram_wox_lipon"
    assert st.path is None and "[backend]" in st.text and st.instruments == []


def test_lab_station_parses_instruments(tmp_path):
    f = tmp_path / "lab.toml"
    f.write_text('[backend]\ntype = "lab"\ndevice = "ecram_wox_lipon"\nwiring = "b1500_matrix"\nrows = 2\n'
                 '[[instruments]]\nname = "smu"\ndriver = "b1500"\naddress = "TCPIP::127.0.0.1::5025::SOCKET"\n')
    st = Station.load(f)
    assert st.instruments == [{"name": "smu", "driver": "b1500",
                               "address": "TCPIP::127.0.0.1::5025::SOCKET", "options": {}}]


@pytest.mark.parametrize("text, message", [
    ("[backend\n", "not valid TOML"),
    ("x = 1\n", r"missing \[backend\] table"),
    ('[backend]\ntype = "cloud"\n', r"type = 'cloud'; allowed: \['sim', 'lab'\]"),
    ('[backend]\ntype = "lab"\ndevice = "ecram_wox_lipon"\nwiring = "array_controller"\n',
     r"lab station needs at least one \[\[instruments\]\]"),
    ('[backend]\ntype = "lab"\n[[instruments]]\nname = "a"\n', "instrument #1 lacks driver, address"),
    ('[backend]\ntype = "sim"\n[extra]\n', r"unknown top-level key\(s\) \['extra'\]"),
])
def test_bad_stations(tmp_path, text, message):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(StationError, match=message):
        Station.load(f)


def test_missing_station_file(tmp_path):
    with pytest.raises(StationError, match="does not exist"):
        Station.load(tmp_path / "nope.toml")
