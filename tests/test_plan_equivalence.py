"""One pulse plan: simulator, lab host mode (SET_LINES + PULSE per pulse), lab firmware mode
(PROGRAM) and the B1500 + switch-matrix wiring apply the same pulses at the same times.

Cycle-to-cycle noise off: bit-identical device states, programming times and clocks.
Noise on: the same distribution of programming steps (two-sample KS test).
"""
from __future__ import annotations

import re

import numpy as np
from scipy import stats

from hil.cards import _cards_dir
from hil.station import Station
from sim_backends import SimBackend

CTRL = """
[backend]
type = "lab"
device = "{card}"
rows = {rows}
cols = {cols}
seed = {seed}
wiring = "array_controller"
programming = "{programming}"
[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "loopback"
"""
MATRIX = """
[backend]
type = "lab"
device = "{card}"
rows = {rows}
cols = {cols}
seed = {seed}
wiring = "b1500_matrix"
[[instruments]]
name = "b1500"
driver = "b1500"
address = "loopback"
[[instruments]]
name = "matrix"
driver = "switch_matrix"
address = "loopback"
"""


def ecram_card(tmp_path, c2c_sigma: float) -> str:
    """The bundled ECRAM card with its cycle-to-cycle spread replaced (a card file by path)."""
    src = (_cards_dir() / "ecram_wox_lipon.toml").read_text()
    src, n = re.subn(r"(?m)^c2c_sigma\s*=\s*[0-9.eE+-]+", f"c2c_sigma = {c2c_sigma!r}", src)
    assert n == 1
    path = tmp_path / f"ecram_c2c_{c2c_sigma:g}.toml"
    path.write_text(src)
    return str(path)


def requests(shape, n, seed=1):
    """Random programming requests: masks, per-cell amplitudes on a few DAC levels (some
    not on the 1 mV grid), scalar potentiation and depression."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        mask = rng.random(shape) < 0.6
        if k % 3 == 0:
            amp = 10.0 if k % 2 == 0 else -7.0
        else:
            amp = np.where(rng.random(shape) < 0.5, rng.choice([8.0, 9.5, 10.0004], shape),
                           -rng.choice([6.0, 7.0], shape))
        out.append((mask, amp, 2e-3 if k % 4 else 1e-3))
    return out


def physics_of(b):
    return b.array if isinstance(b, SimBackend) else b.emulated.physics.array


def clock_of(b):
    return b.clock if isinstance(b, SimBackend) else b.emulated.physics.clock


def test_noise_off_sim_host_firmware_and_matrix_are_bit_identical(tmp_path):
    card = ecram_card(tmp_path, 0.0)
    shape = (6, 5)
    fmt = dict(card=card, rows=shape[0], cols=shape[1], seed=4)
    backends = {
        "sim": SimBackend(shape=shape, device=card, seed=4),
        "host": Station.from_text(CTRL.format(programming="host", **fmt)).make_backend(),
        "firmware": Station.from_text(CTRL.format(programming="firmware", **fmt)).make_backend(),
        "matrix": Station.from_text(MATRIX.format(**fmt)).make_backend(),
    }
    plans = {name: [] for name in backends}
    for mask, amp, width in requests(shape, 12):
        for name, b in backends.items():
            plans[name].append(b.pulse_cells(mask, amp, width))
    sim = physics_of(backends["sim"])
    assert np.ptp(sim.t_prog_s) > 0            # rows were stamped with different times
    report = {}
    for name, b in backends.items():
        arr = physics_of(b)
        report[name] = (float(np.max(np.abs(arr.x - sim.x))),
                        float(np.max(np.abs(arr.t_prog_s - sim.t_prog_s))))
        assert np.array_equal(arr.x, sim.x), name
        assert np.array_equal(arr.t_prog_s, sim.t_prog_s), name
        assert clock_of(b).now() == backends["sim"].clock.now(), name
        # every backend returns the plan it applied: the same pulses
        for p, q in zip(plans[name], plans["sim"]):
            assert p.n_pulses == q.n_pulses and np.array_equal(p.line, q.line)
            assert np.array_equal(p.codes, q.codes)
    emu = backends["firmware"].emulated.emulators["ctrl"]
    assert emu.pulse_count == sum(p.n_pulses for p in plans["sim"])
    print("max |dstate|, max |dt_prog| vs sim:", report)
    for b in backends.values():
        b.close()


def test_noise_off_rram_1t1r_sim_host_firmware_are_bit_identical(tmp_path):
    """The 1T1R plan (V/2 and V/3 half-select) through the array controller: unselected rows
    see WL = 0 and the same per-row pulse times, so the filament states agree bit for bit."""
    src = (_cards_dir() / "rram_hfox_1t1r.toml").read_text()
    src = re.sub(r"(?m)^c2c_sigma\s*=.*$", "c2c_sigma = 0.0", src)
    src = re.sub(r"(?m)^prog_noise_setting\s*=.*$", "", src)     # programming noise off
    card = tmp_path / "rram_quiet.toml"
    card.write_text(src)
    shape = (5, 4)
    rng = np.random.default_rng(0)
    for scheme in ("V/2", "V/3"):
        text = CTRL.format(card=card, rows=5, cols=4, seed=3, programming="{p}") + ""
        text = text.replace("[[instruments]]", f'scheme = "{scheme}"\n[[instruments]]', 1)
        sim = SimBackend(shape=shape, device=str(card), seed=3, scheme=scheme)
        host = Station.from_text(text.format(p="host")).make_backend()
        fw = Station.from_text(text.format(p="firmware")).make_backend()
        for _ in range(6):
            mask = rng.random(shape) < 0.5
            amp = np.where(rng.random(shape) < 0.5, rng.choice([1.3, 1.5], shape), -1.2)
            for b in (sim, host, fw):
                b.pulse_cells(mask, amp, 1e-6)
        for b in (host, fw):
            arr = physics_of(b)
            assert np.array_equal(arr.w, sim.array.w), scheme
            assert np.array_equal(arr.t_prog_s, sim.array.t_prog_s, equal_nan=True), scheme
            assert clock_of(b).now() == sim.clock.now()
            b.close()


def test_firmware_row_blocks_keep_the_plan_order(tmp_path, monkeypatch):
    """PROGRAM frames of a few rows each: the plan (and so the state) follows the blocks."""
    from instruments.array_controller.driver import ArrayController
    card = ecram_card(tmp_path, 0.0)
    shape = (5, 4)
    fmt = dict(card=card, rows=shape[0], cols=shape[1], seed=2)
    monkeypatch.setattr(ArrayController, "program_block_rows", staticmethod(lambda c, p: 2))
    fw = Station.from_text(CTRL.format(programming="firmware", **fmt)).make_backend()
    host = Station.from_text(CTRL.format(programming="host", **fmt)).make_backend()
    mask = np.ones(shape, bool)
    amp = np.where(np.arange(4) % 2, 9.0, -6.0) * np.ones(shape)
    p_fw = fw.pulse_cells(mask, amp, 2e-3)
    assert p_fw.row_block == 2 and list(p_fw.line[:4]) == [0, 1, 0, 1]   # block 0: +, then -
    # host mode sends the firmware's order pulse by pulse: same state, same times
    for k in range(p_fw.n_pulses):
        m = np.zeros(shape, bool)
        m[p_fw.line[k]] = p_fw.targets(k)
        host.pulse_cells(m, p_fw.amplitude_V(k), 2e-3)
    a, b = physics_of(fw), physics_of(host)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.t_prog_s, b.t_prog_s)
    fw.close()
    host.close()


def test_with_noise_host_and_sim_draw_the_same_distribution(tmp_path):
    """c2c noise on: every row of the host run gets its own draws, so states differ, but the
    programming steps (state change relative to the noise-free run) share one distribution;
    the firmware runs the simulator's own executor and stays identical."""
    noisy, quiet = ecram_card(tmp_path, 0.1), ecram_card(tmp_path, 0.0)
    shape = (24, 24)
    fmt = dict(card=noisy, rows=shape[0], cols=shape[1], seed=9)
    sim = SimBackend(shape=shape, device=noisy, seed=9)
    ref = SimBackend(shape=shape, device=quiet, seed=9)
    host = Station.from_text(CTRL.format(programming="host", **fmt)).make_backend()
    fw = Station.from_text(CTRL.format(programming="firmware", **fmt)).make_backend()
    mask = np.ones(shape, bool)
    # rows with different sets of levels: the simulator's passes (k-th pulse of every row)
    # draw the noise in another order than the bench's pulse order
    rng = np.random.default_rng(3)
    levels = rng.choice([8.0, 9.0, 10.0], shape) * (rng.random(shape) < 0.15)
    schedule = (levels, levels, levels, 10.0, -7.0)
    for amp in schedule:
        for b in (sim, ref, host, fw):
            b.pulse_cells(mask, amp, 2e-3)
    d_sim = (physics_of(sim).x - physics_of(ref).x).ravel()
    d_host = (physics_of(host).x - physics_of(ref).x).ravel()
    assert not np.array_equal(d_sim, d_host)                 # independent draws
    assert np.std(d_sim) > 0
    assert stats.ks_2samp(d_sim, d_host).pvalue > 1e-3
    assert np.array_equal(physics_of(fw).x, physics_of(sim).x)
    assert np.array_equal(physics_of(host).t_prog_s, physics_of(sim).t_prog_s)
    # the test can tell: a doubled spread is a different distribution
    wide = SimBackend(shape=shape, device=ecram_card(tmp_path, 0.2), seed=9)
    for amp in schedule:
        wide.pulse_cells(mask, amp, 2e-3)
    d_wide = (physics_of(wide).x - physics_of(ref).x).ravel()
    assert stats.ks_2samp(d_sim, d_wide).pvalue < 1e-3
    host.close()
    fw.close()
