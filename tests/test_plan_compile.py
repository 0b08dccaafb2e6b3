"""`hil.plan`: programming requests compile once into the physical pulses (order, line
voltages of Table S2 / Fig. S25a, DAC rounding), and everything that programs returns and
counts the plan it applied."""
from __future__ import annotations

import numpy as np
import pytest

from hil.cards import load_card
from hil.errors import InstrumentError, ParameterError
from hil.plan import compile_plan, row_passes, scheme_for
from hil.station import Station
from hil.transport import LoopbackTransport
from instruments.array_controller import ArrayController
from sim_backends import SimBackend
from sim_backends.emulators.array_controller import ArrayControllerEmulator

ECRAM = load_card("ecram_wox_lipon")
RRAM = load_card("rram_hfox_1t1r")
V_D, V_SS = ECRAM["h1e1t"]["v_d_V"], ECRAM["h1e1t"]["v_ss_V"]


def test_row_wise_order_levels_and_table_s2_lines():
    mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    amp = np.array([[9.0, 10.0004, 8.0], [-6.0, 9.0, -7.0]])
    plan = compile_plan(mask, amp, ECRAM, "h1e1t-rows", 2e-3)
    # potentiation (levels ascending, rows ascending), then depression; DAC-rounded once
    assert [(int(r), int(p), int(c)) for r, p, c in zip(plan.line, plan.polarity, plan.code)] \
        == [(0, 1, 9000), (1, 1, 9000), (0, 1, 10000), (1, -1, 6000), (1, -1, 7000)]
    assert plan.amplitude_V(2) == pytest.approx(10.0, abs=1e-12)
    pot = plan.lines(0)            # potentiate row 0 at 9 V: target (0, 0)
    assert list(pot.gate_rows) == [9.0, 0.0] and list(pot.drain) == [V_D, 0.0]
    assert list(pot.select_cols) == [0.0, V_SS, V_SS] and pot.source == 0.0
    dep = plan.lines(4)            # depress row 1 at 7 V: target (1, 2)
    assert list(dep.gate_rows) == [0.0, 0.0] and list(dep.drain) == [0.0, 7.0]
    assert list(dep.select_cols) == [0.0, 0.0, V_SS]
    assert plan.max_line_V() == {"gate_rows": 10.0, "select_cols": V_SS, "drain": max(V_D, 7.0),
                                 "source": 0.0}
    assert plan.n_pulses == len(list(plan)) == 5 and plan.duration_s == pytest.approx(1e-2)
    # below half a DAC step is no pulse at all
    assert compile_plan(mask, 4e-4, ECRAM, "h1e1t-rows", 1e-3).n_pulses == 0


def test_row_passes_keep_each_rows_order_and_blocks_reorder_the_plan():
    mask = np.ones((4, 3), bool)
    amp = np.array([[7.0, 8.0, 9.0], [9.0, 9.0, 9.0], [8.0, 9.0, 9.0], [-5.0, 9.0, 9.0]])
    plan = compile_plan(mask, amp, ECRAM, "h1e1t-rows", 1e-3)
    seen = []
    for pot, rows, idx in row_passes(plan):
        assert np.all(np.diff(rows) > 0) and np.array_equal(plan.line[idx], rows)
        seen += list(idx)
    assert sorted(seen) == list(range(plan.n_pulses))
    per_row = {r: [k for k in seen if plan.line[k] == r] for r in range(4)}
    assert all(v == sorted(v) for v in per_row.values())      # a row's pulses keep order
    blocked = compile_plan(mask, amp, ECRAM, "h1e1t-rows", 1e-3, row_block=2)
    assert blocked.n_pulses == plan.n_pulses
    assert set(blocked.line[:4]) == {0, 1} and set(blocked.line[4:]) == {2, 3}
    t = blocked.start_times(1.0)
    assert t[0] == 1.0 and np.all(np.diff(t) > 0)


def test_column_wise_and_1t1r_lines():
    mask = np.zeros((3, 3), bool)
    mask[0, 1] = mask[2, 1] = mask[2, 2] = True
    plan = compile_plan(mask, 9.0, ECRAM, "h1e1t-cols", 1e-3)
    assert list(plan.line) == [1, 2]
    ln = plan.lines(0)     # column 1: EG/ED on rows 0 and 2, TG_1 = 0, other columns V_SS
    assert list(ln.gate_rows) == [9.0, 0.0, 9.0] and list(ln.drain) == [V_D, 0.0, V_D]
    assert list(ln.select_cols) == [V_SS, 0.0, V_SS]
    for scheme, (f_set, f_reset) in (("1t1r-V/2", (0.5, 0.5)), ("1t1r-V/3", (1 / 3, 2 / 3))):
        amp = np.where(mask, 1.5, 0.0)
        amp[np.eye(3, dtype=bool)] = -1.2
        p = compile_plan(mask | np.eye(3, dtype=bool), amp, RRAM, scheme, 1e-6)
        s = p.lines(0)      # set row 0 at 1.5 V: BL = V on target (0, 1), f V on the others
        a = RRAM["array"]
        assert list(s.gate_rows) == [a["v_wl_set_V"], 0, 0] and np.all(s.source == 0)
        assert np.allclose(s.select_cols, [f_set * 1.5, 1.5, f_set * 1.5])
        r = p.lines(int(np.flatnonzero(p.polarity < 0)[0]))   # reset row 0 at 1.2 V
        assert list(r.gate_rows) == [a["v_wl_reset_V"], 0, 0] and list(r.source) == [1.2, 0, 0]
        assert np.allclose(r.select_cols, [0.0, f_reset * 1.2, f_reset * 1.2])
    assert scheme_for(RRAM) == f"1t1r-{RRAM['array'].get('scheme', 'V/2')}"
    with pytest.raises(ParameterError, match="program_by 'diagonal'"):
        scheme_for(ECRAM, "diagonal")


def test_pulse_cells_returns_the_plan_and_the_clock_counts_its_pulses():
    for card, shape in (("ecram_wox_lipon", (5, 4)), ("rram_hfox_1t1r", (4, 4))):
        b = SimBackend(shape=shape, device=card, seed=0)
        mask = np.random.default_rng(0).random(shape) < 0.5
        amp = np.where(np.arange(shape[1]) % 2, 1.0, -1.0) * (9.0 if card[0] == "e" else 1.2)
        amp = np.broadcast_to(amp, shape)
        t0 = b.clock.now()
        plan = b.pulse_cells(mask, amp, 1e-3)
        assert plan.n_pulses > 0 and b.clock.now() == plan.end_time(t0)
        t = t0
        for _ in range(plan.n_pulses):    # bit for bit a clock advanced pulse by pulse
            t += 1e-3
        assert b.clock.now() == t


def test_emulator_counts_program_pulses_from_its_plan_not_its_clock():
    """A physics on a real clock does not advance it per pulse: the counter still equals the
    pulses of the plan the firmware ran."""
    from hil.clock import RealClock
    physics = SimBackend(shape=(4, 4), seed=1, clock=RealClock())
    emu = ArrayControllerEmulator(physics)
    ctrl = ArrayController(LoopbackTransport(emu), "ctrl")
    ctrl.identify()
    mask = np.eye(4, dtype=bool)
    mask[0, 3] = True
    amp = np.where(mask, 9.0, 0.0) - 6.0 * np.eye(4)[::-1]
    expected = compile_plan(mask, amp, physics.device, "h1e1t-rows", 1e-3).n_pulses
    assert ctrl.program(mask, amp, 1e-3) == expected == emu.pulse_count > 0


def test_firmware_that_applies_another_plan_is_caught():
    st = Station.from_text("""
[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 3
cols = 3
wiring = "array_controller"
[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "loopback"
""")
    b = st.make_backend()
    b.emulated.physics.array.set_option("program_by", "cols")   # firmware with another scheme
    mask = np.zeros((3, 3), bool)
    mask[:, 0] = True
    with pytest.raises(InstrumentError, match="PROGRAM applied 1 pulses; the plan has 3"):
        b.pulse_cells(mask, 9.0, 1e-3)
    b.close()
