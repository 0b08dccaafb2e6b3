"""Device families as data: mandatory card kind, no guessed presets, a toy kind added from a
temporary folder, and the MTT readout range that follows the card (issue 12)."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from hil.cards import load_card, preset
from hil.cli import main as hil_main
from hil.errors import ParameterError, StationError
from hil.families import families, family_of
from hil.runner import run_protocol
from hil.station import Station
from hil.store import Run
from protocols.levels import device_kind
from protocols.mtt_readout import MttReadout
from protocols.write_verify import WriteVerify
from sim_backends import SimBackend

def _ecram_copy(tmp_path, stem: str, **top: str | None) -> str:
    """The bundled ECRAM card saved as ``stem.toml`` with top-level keys replaced (None: removed)."""
    from hil.cards import card_path

    top.setdefault("name", f'"{stem}"')
    lines = card_path("ecram_wox_lipon").read_text().splitlines()
    out = []
    for line in lines:
        key = line.split("=")[0].strip()
        if key in top and not line.startswith(" "):
            if top[key] is None:
                continue
            line = f"{key} = {top[key]}"
        out.append(line)
    (tmp_path / f"{stem}.toml").write_text("\n".join(out) + "\n")
    return stem


def test_unknown_kind_is_an_error_never_the_ecram_ladder(tmp_path, monkeypatch):
    monkeypatch.setenv("HIL_CARD_PATH", str(tmp_path))
    _ecram_copy(tmp_path, "pcm_gst", kind='"pcm"')
    card = load_card("pcm_gst")
    with pytest.raises(ParameterError, match="kind 'pcm', which no device family implements; "
                                             "families: ecram \\(h1e1t array\\), rram \\(1t1r array\\)"):
        device_kind(card)             # the old code guessed "ecram" (7-12 V ladders) from the name
    with pytest.raises(ParameterError, match="kind 'pcm'"):
        SimBackend((2, 2), device="pcm_gst")
    st = '[backend]\ntype = "sim"\ndevice = "pcm_gst"\n'
    with pytest.raises(StationError, match="device = 'pcm_gst': .*kind 'pcm'"):
        Station.from_text(st)
    _ecram_copy(tmp_path, "nokind", kind=None)
    with pytest.raises(ParameterError, match="'nokind' has no kind; every device card needs kind"):
        family_of(load_card("nokind"))


def test_presets_come_from_the_card_and_point_at_it(tmp_path, monkeypatch):
    ecram = load_card("ecram_wox_lipon")
    # MTT readout sweeps to the card's G_max, 50 µS (Methods 4.7, the Eq 16 condition); was 40 µS
    proto = MttReadout(SimBackend((2, 4)))
    assert proto.p.g_high_S == ecram["mtt"]["g_max_S"] == 50e-6
    assert proto.p.g_low_S == pytest.approx(2.5e-6)
    # a pointer, not a copy: a card with another G_max gets that default
    monkeypatch.setenv("HIL_CARD_PATH", str(tmp_path))
    src = _ecram_copy(tmp_path, "ecram_45")
    text = (tmp_path / f"{src}.toml").read_text().replace("g_max_S = 50e-6", "g_max_S = 45e-6")
    (tmp_path / f"{src}.toml").write_text(text)
    assert MttReadout(SimBackend((2, 4), device="ecram_45")).p.g_high_S == 45e-6
    # a card without presets gets no guessed default
    bare = {k: v for k, v in ecram.items() if k != "presets"}
    with pytest.raises(ParameterError, match="declares no preset 'ispp.v_p_start_V'"):
        preset(bare, "ispp.v_p_start_V")
    # the RRAM card's write-verify ladder is its own, not ECRAM's
    assert WriteVerify(SimBackend((2, 2), device="rram_hfox_1t1r")).p.v_p_max_V == 2.5


def test_hil_list_prints_resolved_defaults_per_device(capsys):
    assert hil_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "95 %" not in out          # the old help text promised a default the code did not use
    ecram = out[out.index("  ecram_wox_lipon [kind ecram, h1e1t array]"):]
    ecram = ecram[:ecram.index("\n  mtt_transfer")]
    assert "presets.mtt_readout (mtt_readout): g_low_S 2.5e-06 S; g_high_S 5e-05 S; v_read_H_V 1.4 V" in ecram
    assert "presets.levels (retention, write_verify): n_levels 16; g_low_S 2.5e-06 S; g_high_S 4e-05 S" in ecram
    assert "v_p_start_V 7 V" in ecram and "width_s 0.002 s" in ecram
    hfox = out[out.index("  rram_hfox_1t1r [kind rram, 1t1r array]"):]
    assert "v_p_start_V 0.7 V" in hfox.split("\n  rram_taox")[0]
    assert "g_high_S [S] = card presets.mtt_readout.g_high_S: highest swept conductance" in out


TOY_MODULE = '''
"""A toy device family: physics and array class in one file (what a new kind needs)."""
import numpy as np

from hil.backend import line_index
from sim_backends.arrays.base import SimArray
from sim_backends.devices._card import num


def step(s, amplitude_V, width_s, k_per_Vs):
    """Physics: the state moves linearly with amplitude x width, bounded to [0, 1]."""
    return np.clip(s + k_per_Vs * amplitude_V * width_s, 0.0, 1.0)


class Applied:
    """What `program` applied: n back-to-back pulses (the `Backend.pulse_cells` contract)."""

    def __init__(self, n_pulses, width_s):
        self.n_pulses, self.width_s = n_pulses, width_s

    def end_time(self, t0_s):
        return t0_s + self.n_pulses * self.width_s


class ToyArray(SimArray):
    """Toy linear memristor array (one row pulse per row and amplitude)."""

    kind = "toy_xbar"
    card_kind, device_name = "toy", "a toy"
    program_lines = {"potentiate": {"gate_rows": "amplitude"}, "depress": {"source": "amplitude"}}
    options = {}

    def __init__(self, shape, card, seed=0, clock=None, faults=None):
        super().__init__(shape, card, seed, clock, faults)
        self.g_min, self.g_max = num(self.card, "toy.g_min_S"), num(self.card, "toy.g_max_S")
        self.k = num(self.card, "toy.k_per_Vs")
        self.s = np.zeros(self.shape)

    def read(self, rows=None, cols=None, v_read_V=None):
        idx = self.ix(rows, cols)
        return self.g_min + (self.g_max - self.g_min) * self.s[idx]

    def program(self, mask, amplitude_V, width_s):
        mask, amp = self.check_mask(mask), self.check_amplitude(amplitude_V)
        self.s = np.where(mask, step(self.s, amp, width_s, self.k), self.s)
        self.t_prog_s[mask] = self.clock.now()
        return Applied(int(sum(np.unique(amp[r][mask[r]]).size for r in range(self.shape[0]))), width_s)

    def state_dict(self):
        return {**super().state_dict(), "s": self.s.copy()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.s = np.asarray(state["s"], float).copy()
'''

TOY_CARD = '''
name = "toy_dev"
kind = "toy"
family_module = "toy_family.py"
source = "a test"

[toy]
g_min_S = 1e-6
g_max_S = 10e-6
k_per_Vs = 500.0

[read]
v_read_V = 0.1

[limits]
v_min_V = -2.0
v_max_V = 2.0
width_min_s = 1e-6
width_max_s = 1e-2

[presets.levels]
n_levels = 4
g_low_S = 2e-6
g_high_S = 8e-6

[presets.ispp]
v_p_start_V = 0.2
v_p_step_V = 0.1
v_p_max_V = 1.5
v_d_start_V = 0.2
v_d_step_V = 0.1
v_d_max_V = 1.5
width_s = 1e-4
aim = 0.0
tol_ref = "range"
'''


def test_a_new_kind_is_a_card_plus_its_module_from_a_temporary_folder(tmp_path, monkeypatch):
    (tmp_path / "toy_family.py").write_text(textwrap.dedent(TOY_MODULE))
    (tmp_path / "toy_dev.toml").write_text(TOY_CARD)
    monkeypatch.setenv("HIL_CARD_PATH", str(tmp_path))
    st = Station.from_text('[backend]\ntype = "sim"\ndevice = "toy_dev"\nrows = 3\ncols = 4\n'
                           '[limits]\nv_max_V = 1.2\n')
    assert st.config.backend.array == "toy_xbar" and "toy" in families()
    backend = st.make_backend()
    path = run_protocol("write_verify", backend, tmp_path / "wv.h5", {"target": "ramp", "v_p_max_V": 1.2},
                        station=st, progress=False)
    run = Run.open(path)
    assert run.attrs["status"] == "complete" and float(run.read_result("convergence_rate")) == 1.0
    np.testing.assert_allclose(run.read_result("levels_G_S"), [2e-6, 4e-6, 6e-6, 8e-6])
    # the station's tighter limit holds for the new kind too, before any pulse
    with pytest.raises(ParameterError, match="v_p_max_V = 1.5 is outside the limits of this station"):
        WriteVerify(st.make_backend())
    # what `hil list` prints for it (tests/test_families.py checks the command itself)
    from hil.commands.list import resolved_defaults

    assert families()["toy"].array_class.__name__ == "ToyArray"
    rows = {t: v for t, _, v in resolved_defaults(load_card("toy_dev"))}
    assert rows["levels"] == ["n_levels 4", "g_low_S 2e-06 S", "g_high_S 8e-06 S"]
    assert "v_p_max_V 1.5 V" in rows["ispp"] and rows["mtt_readout"][0] == "g_low_S (not set)"
