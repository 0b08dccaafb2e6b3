"""The wires of an emulated bench: instrument ports -> switch matrix -> array pins -> physics.

Pins (matrix outputs) and ports (matrix inputs) follow the one pin map `hil.pins`, which
the lab wiring `hil.lab.matrix` uses too.

A pin takes the level of the port it is routed to (0 V when unrouted: the bench grounds
idle pins).  A pulse builds `hil.backend.Lines` from the pin levels and calls the physics'
`apply_pulse`, so half-select disturb follows from the voltages.  The current into a port
on drain pin D<r> is the sum over columns c with a routed source pin and the selector on
(V_TG - V_ED > `V_SELECT_ON`) of G[r, c] * (V_D - V_S), with G measured by the physics'
`read` (read noise included); a source pin carries the opposite current.  With the probe station separated,
nothing touches the pads: no current flows and pulses reach no device.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from hil.backend import Backend, Lines
from hil.pins import DEFAULT_INPUTS, pin_names, split_pins

__all__ = ["DEFAULT_INPUTS", "V_SELECT_ON", "Bench", "Routes", "pin_names"]

#: selector gate overdrive above which a cell conducts during a DC measurement (V)
V_SELECT_ON = 1.0
#: routing stamps: every change of any bench's routes takes the next one
_STAMPS = itertools.count(1)


class Routes(set):
    """The bench's routes, a set of (input, output) that stamps every change (``stamp``: a
    new number from a process-wide counter), so that a plan built for one routing is
    checked with one int compare however the matrix changes the set."""

    def __init__(self, routes: Iterable[tuple[int, int]] = ()) -> None:
        super().__init__(routes)
        self.stamp = next(_STAMPS)


def _stamping(name: str) -> Callable[..., Any]:
    op = getattr(set, name)

    def method(self: Routes, *args: Any) -> Any:
        out = op(self, *args)
        self.stamp = next(_STAMPS)
        return out
    method.__name__ = name
    method.__doc__ = op.__doc__
    return method


for _name in ("add", "discard", "remove", "pop", "clear", "update", "difference_update",
              "intersection_update", "symmetric_difference_update", "__ior__", "__iand__",
              "__isub__", "__ixor__"):
    setattr(Routes, _name, _stamping(_name))


class Bench:
    """Shared state of all emulated instruments acting on one simulated array."""

    def __init__(self, physics: Backend, inputs: Sequence[str] = DEFAULT_INPUTS) -> None:
        self.physics = physics
        self.rows, self.cols = physics.shape
        self.pins = pin_names(self.rows, self.cols)
        self.pin_index = {p: i for i, p in enumerate(self.pins)}
        self.inputs = list(inputs)
        self._routes = Routes()                     # (input, output), 1-based
        self.levels: dict[str, float] = {}          # DC level of each port (V)
        self.contact = True
        self.lock = threading.RLock()
        self._plans: dict[str, tuple[int, list, Any]] = {}   # port -> `_plan`

    @property
    def routes(self) -> Routes:
        """The closed (input, output) paths, 1-based: a `Routes` set, changed in place by
        the matrix; assigning a set copies it into a new `Routes`."""
        return self._routes

    @routes.setter
    def routes(self, routes: Iterable[tuple[int, int]]) -> None:
        if routes is not self._routes:   # ``bench.routes |= ...`` assigns the set itself
            self._routes = Routes(routes)

    # -- levels ----------------------------------------------------------------------------
    def set_level(self, port: str, v_V: float) -> None:
        self.levels[port] = float(v_V)

    def pin_levels(self, override: dict[str, float] | None = None) -> np.ndarray:
        """Voltage on every pin (ports in ``override`` at their pulse level)."""
        v = np.zeros(len(self.pins))
        for inp, out in self.routes:
            port = self.inputs[inp - 1] if 1 <= inp <= len(self.inputs) else ""
            level = (override or {}).get(port, self.levels.get(port, 0.0))
            if port != "GNDU":
                v[out - 1] = level
        return v

    def lines(self, override: dict[str, float] | None = None) -> Lines:
        g, t, d, s = split_pins(self.pin_levels(override), self.rows, self.cols)
        return Lines(gate_rows=g, select_cols=t,
                     drain=float(d[0]) if np.all(d == d[0]) else d,
                     source=float(s[0]) if np.all(s == s[0]) else s)

    # -- actions ---------------------------------------------------------------------------
    def pulse(self, segments: Sequence[tuple[dict[str, float], float]], count: int = 1,
              period_s: float = 0.0) -> None:
        """Apply ``count`` pulses; each pulse is a sequence of (port levels, duration) segments."""
        with self.lock:
            if not self.contact:
                return
            total = sum(w for _, w in segments)
            for k in range(count):
                for override, width_s in segments:
                    if width_s > 0:
                        self.physics.apply_pulse(self.lines(override), width_s)
                if k < count - 1 and period_s > total:
                    self.physics.wait(period_s - total)

    def routed_pins(self, port: str) -> list[str]:
        if port not in self.inputs:
            return []
        inp = self.inputs.index(port) + 1
        return [self.pins[o - 1] for i, o in self.routes if i == inp]

    def current(self, port: str) -> float:
        """Current (A) flowing out of ``port`` into the array."""
        with self.lock:
            if not self.contact:
                return 0.0
            plan = self._plans.get(port)
            if plan is None or plan[0] != self._routes.stamp:
                plan = self._plan(port)
            if plan[2] is not None:   # one term, one cell: a spot measurement
                return plan[2]()
            v = None
            total = 0.0
            for sign, rows, cols, cell in plan[1]:
                if cell is not None:
                    total += cell()   # signed already
                    continue
                if v is None:
                    v = self.pin_levels()
                i = self._i(v, rows, cols).sum()
                if sign > 0:
                    total += i
                else:
                    total -= i
            return float(total)

    def spot(self, port: str) -> "Callable[[], float | None] | None":
        """`current` of ``port`` as a function for repeated spot measurements (the B1500's
        quick lines), where it is the current of one cell: the plan's ``one``
        (`_cell_current`), which returns None, reading nothing, once the routing changed
        (then ask `current`, which plans anew) and while the probes are off the pads; else
        None.  Call the function holding `lock`."""
        with self.lock:
            plan = self._plans.get(port)
            if plan is None or plan[0] != self._routes.stamp:
                plan = self._plan(port)
            return plan[2]

    def _cell_current(self, row: int, col: int, ports: tuple[str | None, ...], sign: int,
                      stamp: int) -> "Callable[[], float | None] | None":
        """The current into the port, ``sign`` * (drain-to-source current), of the one cell
        (row, col) whose D, S and T pins the ``ports`` drive (None: a grounded pin) as a
        function of the present levels: G (the physics' single-cell read) * (V_D - V_S)
        while the selector conducts, else 0, as the float ``0.0 ± i`` (the sum `current`
        forms); None (nothing read) once the routes have changed from routing ``stamp`` or
        the probes left the pads (`current` checks both first).  None if the physics has
        no single-cell read."""
        phys = self.physics
        if hasattr(phys, "cell_reader"):
            read = phys.cell_reader(row, col)
        elif hasattr(phys, "read_cell"):
            def read(v_read_V: float, _rc=phys.read_cell) -> float:
                return float(_rc(row, col, v_read_V))
        else:
            return None
        p_d, p_s, p_t = ports
        on = V_SELECT_ON

        def current() -> float | None:
            if self._routes.stamp != stamp or not self.contact:
                return None
            get = self.levels.get
            d = get(p_d, 0.0)
            dv = d - get(p_s, 0.0)
            if get(p_t, 0.0) - d > on and dv != 0:
                a = dv if dv > 0.0 else -dv
                i = read(a if a < 1.0 else 1.0) * dv   # min(1.0, |dv|)
            else:
                i = 0.0
            return 0.0 + i if sign > 0 else 0.0 - i
        return current

    def _plan(self, port: str) -> tuple[int, list, "Callable[[], float | None] | None"]:
        """What `current` sums for ``port`` under the present routes, built once per routing:
        (routing stamp, terms, one), a term (sign, rows, cols, cell) per routed pin; ``cell``:
        for a single cell its current (`_cell_current`, from the ports driving its D, S and
        T pins, None for a pin left grounded as `pin_levels` leaves it), else None; ``one``:
        the whole current when it is one such term, else None.  Keyed on the routing stamp
        (`Routes`: the matrix changes the set in place); the inputs, the array shape and the
        physics are fixed at construction."""
        key = self._routes.stamp
        pin_port: list[str | None] = [None] * len(self.pins)
        for inp, out in self.routes:           # the same assignment order as `pin_levels`
            name = self.inputs[inp - 1] if 1 <= inp <= len(self.inputs) else ""
            if name != "GNDU":
                pin_port[out - 1] = name
        r, c = self.rows, self.cols
        routed = {o - 1 for _, o in self.routes}
        # O(routes), not O(rows + cols)
        d_rows = sorted(o - r - c for o in routed if r + c <= o < 2 * r + c)
        s_cols = sorted(o - 2 * r - c for o in routed if 2 * r + c <= o < 2 * (r + c))
        terms = []
        for pin in self.routed_pins(port):
            kind, idx = pin[0], int(pin[1:])
            if kind in "DS":
                rows, cols = ([idx], s_cols) if kind == "D" else (d_rows, [idx])
                sign = 1 if kind == "D" else -1
                cell = None
                if len(rows) == 1 and len(cols) == 1:   # D, S and T pins of the one cell
                    ports = (pin_port[r + c + rows[0]], pin_port[2 * r + c + cols[0]],
                             pin_port[r + cols[0]])
                    cell = self._cell_current(rows[0], cols[0], ports, sign, key)
                terms.append((sign, rows, cols, cell))
        one = terms[0][3] if len(terms) == 1 else None
        plan = self._plans[port] = (key, terms, one)
        return plan

    def _i(self, v: np.ndarray, rows: list[int], cols: list[int]) -> np.ndarray:
        """Cell currents (rows x cols) from drain to source; 0 where the selector is off."""
        if not rows or not cols:
            return np.zeros(1)
        r, c = self.rows, self.cols
        vd = v[[r + c + k for k in rows]][:, None]
        vs = v[[2 * r + c + k for k in cols]][None, :]
        tg = v[[r + k for k in cols]][None, :]
        dv = np.broadcast_to(vd - vs, (len(rows), len(cols)))
        on = (tg - vd) > V_SELECT_ON
        if not np.any(on & (dv != 0)):
            return np.zeros(1)
        v_read = float(min(1.0, np.max(np.abs(dv[on]))))
        g = np.asarray(self.physics.read(rows=rows, cols=cols, v_read_V=v_read), float)
        return np.where(on, g * dv, 0.0)
