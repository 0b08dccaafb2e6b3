"""Safety limits: the card's range is a ceiling, a station tightens it, a violation is an error
before the first pulse (protocol parameters) and nothing past the limits reaches a driver
(the Backend base) (issue 12, item 4)."""
from __future__ import annotations

import numpy as np
import pytest

from hil.backend import Lines
from hil.errors import ParameterError, StationError
from hil.runner import run_protocol
from hil.station import Station

SIM = '[backend]\ntype = "sim"\ndevice = "ecram_wox_lipon"\nrows = 4\ncols = 4\n[limits]\n{limits}\n'
LAB = """[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 4
cols = 4
wiring = "array_controller"
programming = "firmware"
[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "loopback"
[limits]
{limits}
"""


def sim(limits: str) -> Station:
    return Station.from_text(SIM.format(limits=limits))


@pytest.mark.parametrize("limits, message", [
    ("v_max_V = 15.0", r"v_max_V = 15 is outside the safe range of device 'ecram_wox_lipon' \(12, device card "
                       r"\[limits\]\); a station can only tighten it"),
    ("v_min_V = -11.0", "v_min_V = -11 is outside the safe range"),
    ("width_max_s = 1.0", "width_max_s = 1 is outside the safe range"),
    ("v_max_V = inf", "v_max_V = inf; allowed: a finite number"),
    ('v_max_V = "9"', "v_max_V = '9'; allowed: a finite number"),
    ("v_maks_V = 9.0", r"\[limits\] unknown key\(s\) \['v_maks_V'\]; allowed: \['v_min_V', 'v_max_V'"),
    ("duty_max = 0.0", "duty_max = 0; allowed: 0 < duty_max <= 1"),
    ("rows = [2, 9]", r"region rows \(2, 9\), cols None reaches outside the 4 x 4 array"),
    ("cols = [3, 1]", r"cols = \[3, 1\]; allowed: \[first, last\]"),
])
def test_station_limits_can_only_tighten_the_card(limits, message):
    with pytest.raises(StationError, match=message):
        sim(limits)


def test_protocol_outside_station_limits_fails_before_the_run_file(tmp_path):
    st = sim("v_max_V = 9.0\nv_max_drain_V = 6.5")
    out = tmp_path / "r.h5"
    with pytest.raises(ParameterError, match="parameter v_pot_V = 10 is outside the limits of this station: "
                                             r"-10 .. 9 V \(station \[limits\]"):
        run_protocol("pulse_train", st.make_backend(), out, {}, station=st, progress=False)
    # the -7 V depression puts 7 V on the drain lines (H-1E1T Table S2): above this bench's 6.5 V
    with pytest.raises(ParameterError, match="drain of a depress pulse at 7 V = 7 is outside the limits"):
        run_protocol("pulse_train", st.make_backend(), out, {"v_pot_V": 8}, station=st, progress=False)
    # write-verify's card ladder climbs to 12 V: refused up front, not at round 6
    with pytest.raises(ParameterError, match="v_p_max_V = 12 is outside the limits"):
        run_protocol("write_verify", st.make_backend(), out, {}, station=st, progress=False)
    assert not out.exists()
    path = run_protocol("pulse_train", st.make_backend(), out, {"v_pot_V": 8, "v_dep_V": -6, "n_pot": 3,
                                                                 "n_dep": 3}, station=st, progress=False)
    assert path.exists()


def test_nothing_past_the_limits_reaches_a_driver():
    st = Station.from_text(LAB.format(limits="v_max_V = 9.0\nv_max_gate_V = 8.0\nrows = [0, 1]\n"
                                             "width_max_s = 5e-3"))
    b = st.make_backend()
    try:
        emu = b.emulated.emulators["ctrl"]
        mask = np.zeros((4, 4), bool)
        mask[0, 0] = True
        cases = [
            (lambda: b.pulse_cells(mask, 8.5, 1e-3), "gate_rows of a potentiate pulse at 8.5 V = 8.5"),
            (lambda: b.pulse_cells(mask, 9.5, 1e-3), "amplitude_V = 9.5 is outside the limits of this station"),
            (lambda: b.pulse_cells(mask, 5.0, 1e-2), "width_s = 0.01 is outside the limits"),
            (lambda: b.pulse_cells(np.roll(mask, 3, axis=0), 5.0, 1e-3),
             r"row 3 is outside the allowed cell region of this station: rows 0..1"),
            (lambda: b.apply_pulse(Lines(np.r_[8.5, 0, 0, 0], np.zeros(4)), 1e-3),
             "on gate_rows = 8.5 is outside"),
            (lambda: b.apply_pulse(Lines(np.r_[0, 0, 5.0, 0], np.zeros(4)), 1e-3),
             "row 2 is outside the allowed cell region"),
        ]
        for call, message in cases:
            with pytest.raises(ParameterError, match=message):
                call()
        assert emu.pulse_count == 0                  # nothing reached the board
        b.pulse_cells(mask, 5.0, 1e-3)               # inside every limit: sent
        assert emu.pulse_count == 1
    finally:
        b.close()


def test_compliance_and_duty():
    b = sim("compliance_max_A = 1e-4").make_backend()
    with pytest.raises(ParameterError, match="compliance_A = 0.001 is outside the limits"):
        b.iv_sweep((0, 0), np.linspace(0, 1, 5), 1e-3)
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    b = sim("duty_max = 0.25").make_backend()        # 1 ms on needs 3 ms off before the next pulse
    b.pulse_cells(mask, 8.0, 1e-3)
    b.pulse_cells(mask, 8.0, 1e-3)
    assert b.clock.now() == pytest.approx(5e-3)
    free = sim("v_max_V = 12.0").make_backend()
    free.pulse_cells(mask, 8.0, 1e-3)
    free.pulse_cells(mask, 8.0, 1e-3)
    assert free.clock.now() == pytest.approx(2e-3)
