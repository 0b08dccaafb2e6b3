"""Wiring ``array_controller``: one array-controller board drives and reads the whole array."""
from __future__ import annotations

from typing import Any

import numpy as np

from hil.backend import Cell, Lines
from hil.errors import HilError, InstrumentError, ParameterError, StationError
from hil.lab.teardown import Recover, SafeSteps, run_safe_steps
from hil.plan import PulsePlan, compile_plan, scheme_for

PROGRAMMING = ("firmware", "host")


class ControllerWiring:
    """Reads with READ_ARRAY/READ_BLOCK, pulses with SET_LINES + PULSE, programs with PROGRAM.

    `pulse_cells` compiles the request into a `hil.plan.PulsePlan`.  ``programming =
    "firmware"`` (default) sends it as PROGRAM frames and checks that the board's pulse
    counter moved by exactly the plan's pulses; ``"host"`` sends the plan pulse by pulse as
    SET_LINES + PULSE (for firmware without PROGRAM, or a column-wise scheme, which PROGRAM
    cannot express).  The constructor does no I/O: `connect` identifies the board.
    """

    def __init__(self, ctrl: Any, shape: tuple[int, int], card: dict[str, Any],
                 programming: str = "firmware", scheme: str | None = None) -> None:
        if programming not in PROGRAMMING:
            raise StationError(f"[backend] programming = {programming!r}; allowed: "
                               f"{', '.join(repr(p) for p in PROGRAMMING)}")
        self.ctrl = ctrl
        self.shape = tuple(shape)
        self.card = card
        self.programming = programming
        self.scheme = scheme or scheme_for(card)
        if programming == "firmware" and self.scheme == "h1e1t-cols":
            raise StationError("programming = 'firmware' runs the row-wise scheme (PROGRAM); "
                               "program_by = 'cols' needs programming = 'host'")

    @classmethod
    def from_drivers(cls, drivers: dict[str, tuple[str, Any]], shape: tuple[int, int],
                     card: dict[str, Any], table: dict[str, Any]) -> "ControllerWiring":
        ctrls = [d for kind, d in drivers.values() if kind == "array_controller"]
        if len(ctrls) != 1:
            raise StationError(f"wiring 'array_controller' needs exactly one instrument with "
                               f"driver = 'array_controller'; found {len(ctrls)}")
        try:
            scheme = scheme_for(card, table.get("program_by"), table.get("scheme"))
        except HilError as exc:
            raise StationError(f"[backend]: {exc}") from None
        return cls(ctrls[0], shape, card, table.get("programming", "firmware"), scheme)

    def connect(self) -> None:
        """Identify the board; its array must be the station's."""
        ident = self.ctrl.identify()
        if (ident.rows, ident.cols) != self.shape:
            raise StationError(f"array controller {self.ctrl.name!r} drives a {ident.rows}x"
                               f"{ident.cols} array; the station says "
                               f"{self.shape[0]}x{self.shape[1]}")

    #: the board counts every pulse itself; the count survives reconnecting
    pulse_counter_persists = True

    def pulse_count(self) -> int | None:
        """The board's pulse counter as last reported (updated by every PULSE/PROGRAM reply)."""
        return self.ctrl.pulse_count

    def read(self, rows: np.ndarray, cols: np.ndarray, v_read_V: float) -> np.ndarray:
        v32 = float(np.float32(v_read_V))  # the board applies the float32 it was sent
        full_r = np.array_equal(rows, np.arange(self.shape[0]))
        full_c = np.array_equal(cols, np.arange(self.shape[1]))
        if full_r and full_c:
            i = self.ctrl.read_array(v_read_V)
        else:  # the board reads exactly the block asked for (same cells as the sim reads)
            i = self.ctrl.read_block(rows, cols, v_read_V)
        return i / v32

    def apply_pulse(self, lines: Lines, width_s: float) -> None:
        if self.scheme.startswith("1t1r"):   # 1T1R: ED carries the per-row source lines
            if np.any(np.asarray(lines.drain) != 0):
                raise ParameterError("a 1T1R array has no drain lines; put the source-line "
                                     "levels in Lines.source (one per row)")
            self.ctrl.set_lines(lines.gate_rows, lines.select_cols, lines.source, 0.0)
        else:
            self.ctrl.set_lines(lines.gate_rows, lines.select_cols, lines.drain, lines.source)
        self.ctrl.pulse(width_s)

    def pulse_cells(self, mask: np.ndarray, amplitude_V: np.ndarray, width_s: float) -> PulsePlan:
        per_cell = amplitude_V.ndim > 0
        if self.programming == "host":
            plan = compile_plan(mask, amplitude_V, self.card, self.scheme, width_s)
            for lines in plan:
                self.apply_pulse(lines, width_s)
            return plan
        # the firmware runs the plan block of rows by block (one PROGRAM frame each)
        block = self.ctrl.program_block_rows(self.shape[1], per_cell)
        plan = compile_plan(mask, amplitude_V, self.card, self.scheme, width_s,
                            row_block=None if block >= self.shape[0] else block)
        before = self.ctrl.pulse_count
        after = self.ctrl.program(mask, amplitude_V if per_cell else float(amplitude_V), width_s)
        if before is not None and (after - before) % (1 << 32) != plan.n_pulses % (1 << 32):
            raise InstrumentError(f"array controller {self.ctrl.name!r}: PROGRAM applied "
                                  f"{(after - before) % (1 << 32)} pulses; the plan has "
                                  f"{plan.n_pulses} (firmware scheme differs from "
                                  f"{self.scheme!r}?)")
        return plan

    def iv_sweep(self, cell: Cell, v_V: np.ndarray, compliance_A: float) -> np.ndarray:
        raise HilError("iv_sweep needs a DC source on the gate line; the array_controller "
                       "wiring only pulses: use the 'b1500_matrix' wiring")

    # -- teardown --------------------------------------------------------------------------
    def safe_steps(self) -> SafeSteps:
        """Every line to 0 V (SET_LINES of zeros: a stray PULSE then applies nothing)."""
        return [(self.ctrl, self.ctrl.safe_state)]

    def close(self, recover: Recover | None = None) -> list[str]:
        """Return the board to its safe state; the instruments that could not be."""
        return run_safe_steps(self.safe_steps(), recover)
