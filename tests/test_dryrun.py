"""`hil run --dry-run` and `hil station check` against a served emulated lab: nothing is sent,
no output is enabled (issue 12, item 5)."""
from __future__ import annotations

import re
from importlib import resources

import pytest

from hil import serve
from hil.cli import main as hil_main
from hil.station import Station


@pytest.fixture
def served_lab(tmp_path):
    """The bundled emulated lab on free loopback ports, and a station file that points at them."""
    text = (resources.files("hil_data") / "stations" / "emulated_lab.toml").read_text()
    with serve.start(Station.from_text(text), free_ports=True) as served:
        for inst, srv in served.servers:
            addr = srv.serial_url if inst["driver"] == "array_controller" else srv.visa_resource
            text = text.replace(f'address = "{inst["address"]}"', f'address = "{addr}"')
        f = tmp_path / "lab.toml"
        f.write_text(text)
        yield served, f


def _untouched(lab) -> None:
    emu = lab.emulators
    assert emu["ctrl"].pulse_count == 0
    assert getattr(emu["pg"], "pulses_fired", 0) == 0 and getattr(emu["b1500"], "pulses_fired", 0) == 0
    assert emu["b1500"].enabled == set()               # no SMU output switched on (CN)
    assert lab.bench.routes == set()                   # no relay closed


def test_dry_run_sends_nothing_and_reports_the_plan(served_lab, tmp_path, monkeypatch, capsys):
    served, station = served_lab
    monkeypatch.chdir(tmp_path)
    rc = hil_main(["run", "pulse_train", "--dry-run", "--station", str(station), "--no-progress",
                   "--set", "n_pot=4", "--set", "n_dep=3"])
    out = capsys.readouterr().out
    assert rc == 0
    _untouched(served.lab)
    assert not list(tmp_path.glob("*.h5"))             # no run file unless asked
    assert "dry run: nothing was sent" in out
    assert "pulses: 7 physical pulse(s) in 7 request(s)" in out
    assert "max |V| per line: drain 7 V, gate_rows 10 V, select_cols 10 V" in out
    t = float(re.search(r"estimated bench time: ([0-9.e+-]+) s", out).group(1))
    # REFERENCE §9 floor: 7 x (2 ms + 0.1 ms relay + 1 ms bus) + 8 reads x (1 ms + 16 µs)
    assert t == pytest.approx(7 * 3.1e-3 + 8 * (1e-3 + 16e-6))
    for name, driver in (("b1500", "b1500"), ("matrix", "switch_matrix"), ("ctrl", "array_controller")):
        assert re.search(rf"  {name}: {driver} at \S+127\.0\.0\.1", out)
    # asked for: the predicted run file is written
    assert hil_main(["run", "pulse_train", "--dry-run", "--station", str(station), "--no-progress",
                     "--set", "n_pot=2", "--set", "n_dep=0", "--out", "pred.h5"]) == 0
    assert (tmp_path / "pred.h5").exists()
    _untouched(served.lab)


def test_dry_run_shows_a_limit_violation_before_anything(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text('[backend]\ntype = "sim"\ndevice = "ecram_wox_lipon"\n[limits]\nv_max_V = 9.0\n')
    assert hil_main(["run", "pulse_train", "--dry-run", "--station", str(f), "--no-progress"]) == 2
    assert "v_pot_V = 10 is outside the limits of this station" in capsys.readouterr().err


def test_station_check_identifies_every_instrument_and_enables_nothing(served_lab, capsys):
    served, station = served_lab
    assert hil_main(["station", "check", "--station", str(station)]) == 0
    out = capsys.readouterr().out
    assert "*IDN? Agilent Technologies,B1500A," in out
    assert "UNT? modules: slot 1: SPGU, slot 4: HRSMU" in out
    assert "*IDN? Agilent Technologies,B2200A" in out and "*IDN? Agilent Technologies,33522B" in out
    assert "IDENTIFY: protocol v1, 8 x 8 array" in out and "pulse counter 0" in out
    assert out.count("error queue: empty") == 3
    assert "5 of 5 instrument(s) ok; no output was enabled" in out
    _untouched(served.lab)


def test_station_check_reports_an_unreachable_instrument(tmp_path, capsys):
    f = tmp_path / "s.toml"
    text = (resources.files("hil_data") / "stations" / "lab_array_controller.toml").read_text()
    f.write_text(text.replace("socket://127.0.0.1:5601", "socket://127.0.0.1:1")
                 .replace("timeout_s = 5.0", "timeout_s = 0.5"))
    assert hil_main(["station", "check", "--station", str(f)]) == 1
    out = capsys.readouterr().out
    assert "ctrl (array_controller at socket://127.0.0.1:1): PROBLEM" in out and "FAILED" in out
    assert hil_main(["station", "check"]) == 2          # the simulated default has no instruments
    assert "needs a lab station" in capsys.readouterr().err
