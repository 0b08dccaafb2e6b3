"""Wiring ``array_controller``: one array-controller board drives and reads the whole array."""
from __future__ import annotations

from typing import Any

import numpy as np

from hil.backend import Cell, Lines
from hil.errors import HilError, StationError
from hil.lab.scheme import h1e1t_row_pulses


class ControllerWiring:
    """Reads with READ_ARRAY/READ_BLOCK, pulses with SET_LINES + PULSE, programs with PROGRAM.

    ``programming = "host"`` in the station's ``[backend]`` table makes the host compile
    `pulse_cells` into SET_LINES + PULSE per row (for firmware without PROGRAM).
    """

    def __init__(self, ctrl: Any, shape: tuple[int, int], card: dict[str, Any],
                 scheme: str = "firmware") -> None:
        self.ctrl = ctrl
        self.shape = shape
        self.card = card
        self.scheme = scheme
        ident = ctrl.identify()
        if (ident.rows, ident.cols) != tuple(shape):
            raise StationError(f"array controller {ctrl.name!r} drives a {ident.rows}x{ident.cols} "
                               f"array; the station says {shape[0]}x{shape[1]}")

    @classmethod
    def from_drivers(cls, drivers: dict[str, tuple[str, Any]], shape: tuple[int, int],
                     card: dict[str, Any], table: dict[str, Any]) -> "ControllerWiring":
        ctrls = [d for kind, d in drivers.values() if kind == "array_controller"]
        if len(ctrls) != 1:
            raise StationError(f"wiring 'array_controller' needs exactly one instrument with "
                               f"driver = 'array_controller'; found {len(ctrls)}")
        scheme = table.get("programming", "firmware")
        if scheme not in ("firmware", "host"):
            raise StationError(f"[backend] programming = {scheme!r}; allowed: 'firmware', 'host'")
        return cls(ctrls[0], shape, card, scheme)

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
        self.ctrl.set_lines(lines.gate_rows, lines.select_cols, lines.drain, lines.source)
        self.ctrl.pulse(width_s)

    def pulse_cells(self, mask: np.ndarray, amplitude_V: np.ndarray, width_s: float) -> None:
        if self.scheme == "firmware":
            amp = amplitude_V if amplitude_V.ndim else float(amplitude_V)
            self.ctrl.program(mask, amp, width_s)
            return
        for lines in h1e1t_row_pulses(mask, amplitude_V, self.card):
            self.apply_pulse(lines, width_s)

    def iv_sweep(self, cell: Cell, v_V: np.ndarray, compliance_A: float) -> np.ndarray:
        raise HilError("iv_sweep needs a DC source on the gate line; the array_controller "
                       "wiring only pulses: use the 'b1500_matrix' wiring")
