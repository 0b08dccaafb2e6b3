"""Protocol parameter validation and cell-selection parsing."""
import numpy as np
import pytest

from hil.errors import ParameterError
from protocols.cells import parse_cells
from protocols.params import Param, resolve

CARD = {"name": "ecram", "limits": {"v_min_V": -8.0, "v_max_V": 12.0, "width_min_s": 1e-6, "width_max_s": 1.0}}
SPECS = (
    Param("v_pot_V", 10.0, "V", positive=True, limit="voltage"),
    Param("width_s", 2e-3, "s", positive=True, limit="width"),
    Param("n", 180, kind="int", min=0, max=1000),
    Param("mode", "a", kind="str", choices=("a", "b")),
    Param("amps_V", None, "V", kind="floats", limit="voltage"),
    Param("flag", False, kind="bool"),
)


def test_defaults_and_string_coercion():
    out = resolve(SPECS, {"v_pot_V": "11.5", "n": "3", "amps_V": "1,-2.5", "flag": "yes"}, CARD)
    assert out == {"v_pot_V": 11.5, "width_s": 2e-3, "n": 3, "mode": "a", "amps_V": [1.0, -2.5], "flag": True}
    assert resolve(SPECS, {"amps_V": "[3, 4]"}, CARD)["amps_V"] == [3.0, 4.0]


@pytest.mark.parametrize("values, message", [
    ({"bogus": 1}, r"unknown parameter\(s\) bogus; allowed: v_pot_V"),
    ({"width_s": 0}, r"width_s=0.0 s must be > 0"),
    ({"width_s": -1e-3}, r"width_s=-0.001 s must be > 0"),
    ({"v_pot_V": 15}, r"v_pot_V=15.0 V is outside the safe range of device 'ecram': -8.0 .. 12.0 V"),
    ({"amps_V": "1,-9"}, r"amps_V=-9.0 V is outside the safe range"),
    ({"width_s": 2.0}, r"outside the safe range .* 1e-06 .. 1.0 s"),
    ({"n": 1001}, r"n=1001 is above the maximum 1000"),
    ({"n": "x"}, r"n='x' is not a valid int"),
    ({"mode": "c"}, r"mode='c' not allowed; choose one of \['a', 'b'\]"),
    ({"v_pot_V": "nan"}, r"NaN"),
    ({"flag": "maybe"}, r"flag='maybe' is not a valid bool"),
])
def test_bad_values_name_the_value_and_what_is_allowed(values, message):
    with pytest.raises(ParameterError, match=message):
        resolve(SPECS, values, CARD)


def test_describe_shows_unit_and_default():
    assert SPECS[0].describe().startswith("v_pot_V [V] = 10.0")


def test_cells_forms():
    assert parse_cells("all", (2, 3)).all()
    m = parse_cells("1,2", (2, 3))
    assert m.sum() == 1 and m[1, 2]
    m = parse_cells("0,0; 1,1", (2, 3))
    assert np.argwhere(m).tolist() == [[0, 0], [1, 1]]
    m = parse_cells("0:2,1:3", (4, 4))
    assert np.argwhere(m).tolist() == [[0, 1], [0, 2], [1, 1], [1, 2]]
    assert parse_cells(":,2:", (2, 4)).sum() == 4


@pytest.mark.parametrize("spec, message", [
    ("9,0", r"row 9 is outside 0..7"),
    ("0,8", r"column 8 is outside 0..7"),
    ("a,b", r"bad row 'a'"),
    ("1", r"'1' is not 'row,col'"),
    ("3:1,0", r"bad row '3:1'"),
    ("", r"selects no cell"),
])
def test_bad_cells(spec, message):
    with pytest.raises(ParameterError, match=message):
        parse_cells(spec, (8, 8))
