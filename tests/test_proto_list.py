"""`hil list` shows every protocol with its description and parameters (units, defaults)."""
from __future__ import annotations

from hil.cli import main

MINE = {
    "write_verify": ("incremental-step write-verify", "v_p_max_V [V]", "tol = 0.02"),
    "selective_programming": ("H-1E1T", "v_d_V [V] = 6.0", "pulse_width_s [s] = 0.005"),
    "retention": ("log-spaced times", "horizon_s [s] = 315576000.0", "n_snapshots = 30"),
    "mtt_readout": ("Eq 7", "v_read_H_V [V]", "n_points = 11"),
    "iv_sweep": ("switching ratio", "compliance_A [A]", "cell = '0,0'"),
}


def test_hil_list_shows_protocols_with_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, needles in MINE.items():
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"{name}:"))
        assert needles[0] in line, line
        for needle in needles[1:]:
            assert needle in out, (name, needle)
