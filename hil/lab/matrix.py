"""Wiring ``b1500_matrix``: B1500A SMUs/SPGU (or a pulse generator) reach the array pins
through a switch matrix.

Matrix outputs are the array pins in `hil.pins.pin_names` order (``G<row>`` EG, ``T<col>``
TG, ``D<row>`` ED, ``S<col>`` ES; the emulated bench uses the same map); matrix inputs are
the ports listed in ``[backend] matrix_inputs`` (default `hil.pins.DEFAULT_INPUTS`).  Which port plays which
role is ``[backend] roles`` (default `DEFAULT_ROLES`).

- read: per row, D<r> on the drain SMU at V_read, all T<c> on the select SMU at V_SS, and
  each S<c> grounded in turn; G = I / V_read from a spot measurement (``TI``).
- apply_pulse: pins with a non-zero level go to the gate / select pulse outputs (both SPGU
  channels, or both channels of the pulse generator fired by one bus trigger) or the
  drain-bias SMU, all others to ground; one pulse.  One level per line group.
- pulse_cells: the request's `hil.plan.PulsePlan`, one apply_pulse per pulse.
- iv_sweep: staircase sweep of the sweep SMU on G<r>, drain current of (r, c) measured.
- connect: discover the B1500 modules, close the SMU output switches, contact the prober
  (the constructor does no I/O).
- close: pulse outputs off (SPGU stopped, pulse generator outputs off), every SMU at 0 V
  and disconnected (``DZ``, ``CL``), all relays open (`hil.lab.teardown`).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from hil.backend import Cell, Lines
from hil.errors import TransportError, HilError, InstrumentError, ParameterError, StationError
from hil.lab.teardown import Recover, SafeSteps, run_safe_steps
from hil.pins import DEFAULT_INPUTS, pin_names
from hil.plan import PulsePlan, compile_plan, scheme_for, scheme_levels

__all__ = ["DEFAULT_INPUTS", "DEFAULT_ROLES", "MatrixWiring", "pin_names"]

DEFAULT_ROLES = {"ground": "GNDU", "drain_smu": "SMU4", "sweep_smu": "SMU5",
                 "select_smu": "SMU6", "drain_bias": "SMU7", "gate_pulse": "SPGU101",
                 "select_pulse": "SPGU102"}
READ_COMPLIANCE_A = 1e-3


def _one_level(values: np.ndarray, what: str) -> float:
    nz = np.unique(np.round(values[values != 0], 6))
    if nz.size > 1:
        raise ParameterError(f"{what}: levels {nz.tolist()} V need {nz.size} pulse sources; this "
                             "wiring has one per line group (all non-zero levels must be equal)")
    return float(nz[0]) if nz.size else 0.0


class MatrixWiring:
    def __init__(self, b1500: Any, matrix: Any, shape: tuple[int, int], card: dict[str, Any],
                 inputs: list[str], roles: dict[str, str], pulsegen: Any = None,
                 prober: Any = None, scheme: str = "h1e1t-rows") -> None:
        self.b, self.mx, self.pg, self.prober = b1500, matrix, pulsegen, prober
        self.shape, self.card = tuple(shape), card
        if not scheme.startswith("h1e1t"):
            raise StationError(f"wiring 'b1500_matrix' reaches H-1E1T pins (G, T, D, S); device "
                               f"{card.get('name')!r} programs with {scheme!r}")
        self.scheme = scheme
        self.v_ss_V = scheme_levels(card, scheme)["v_ss_V"]
        self.inputs, self.roles = inputs, roles
        self.pins = {p: k + 1 for k, p in enumerate(pin_names(*shape))}
        for role, port in roles.items():
            if port not in inputs:
                raise StationError(f"role {role!r} uses port {port!r}, which is not a matrix "
                                   f"input; inputs: {inputs}")
        if roles["gate_pulse"][:2] != roles["select_pulse"][:2]:
            raise StationError(f"gate_pulse {roles['gate_pulse']!r} and select_pulse "
                               f"{roles['select_pulse']!r} must be outputs of the same pulse "
                               "source (both SPGU channels or both pulse generator channels)")
        self.smu = {r: int(p[3:]) for r, p in roles.items() if p.startswith("SMU")}
        self._spgu = None
        self._pulse_cfg: tuple | None = None

    def connect(self) -> None:
        """Discover the B1500's modules, enable the SMUs the roles use, contact the prober."""
        self.b.setup()
        missing = sorted(set(self.smu.values()) - set(self.b.smu_channels()))
        if missing:
            raise StationError(f"B1500 has no SMU in slot(s) {missing}; SMUs: "
                               f"{self.b.smu_channels()}")
        self.b.enable(sorted(set(self.smu.values())))
        if self.prober is not None:
            self.prober.contact()

    @classmethod
    def from_drivers(cls, drivers: dict[str, tuple[str, Any]], shape: tuple[int, int],
                     card: dict[str, Any], table: dict[str, Any]) -> "MatrixWiring":
        by = {}
        for kind, d in drivers.values():
            by.setdefault(kind, d)
        for need in ("b1500", "switch_matrix"):
            if need not in by:
                raise StationError(f"wiring 'b1500_matrix' needs an instrument with driver = "
                                   f"{need!r}")
        roles = {**DEFAULT_ROLES, **dict(table.get("roles", {}))}
        try:
            scheme = scheme_for(card, table.get("program_by"), table.get("scheme"))
        except HilError as exc:
            raise StationError(f"[backend]: {exc}") from None
        return cls(by["b1500"], by["switch_matrix"], shape, card,
                   list(table.get("matrix_inputs", DEFAULT_INPUTS)), roles,
                   by.get("pulsegen"), by.get("probe_station"), scheme)

    # -- helpers ---------------------------------------------------------------------------
    def _inp(self, role: str) -> int:
        return self.inputs.index(self.roles[role]) + 1

    def _pt(self, role: str, pin: str) -> tuple[int, int]:
        return (self._inp(role), self.pins[pin])

    def _dv(self, role: str, v: float, comp: float = READ_COMPLIANCE_A) -> None:
        self.b.force_voltage(self.smu[role], v, comp)

    # -- pulse counting and read retries (a B1500 has no pulse counter) -------------------
    #: pulses fired by this host since connecting (counted before each trigger is sent)
    fired = 0
    pulse_counter_persists = False
    #: lost or garbled spot-measurement replies retried per read (a pulse is never re-sent)
    read_retries = 2

    def pulse_count(self) -> int:
        return self.fired

    def _spot_current(self, role: str) -> Any:
        """``TI`` on the SMU of ``role``, retried after a transient transport error: a spot
        measurement has no side effect, so asking again is safe."""
        for attempt in range(self.read_retries + 1):
            try:
                return self.b.spot_current(self.smu[role])
            except TransportError as exc:
                if not exc.transient or attempt == self.read_retries:
                    raise
                self.b.transport.discard_input()
                if not hasattr(self, "events"):
                    self.events: list[str] = []
                self.events.append(f"retry TI after: {exc}")
        raise AssertionError("unreachable")

    # -- read ------------------------------------------------------------------------------
    def read(self, rows: np.ndarray, cols: np.ndarray, v_read_V: float) -> np.ndarray:
        rws, cls_ = self.shape
        v_ss = self.v_ss_V
        base = [self._pt("ground", f"G{r}") for r in range(rws)]
        base += [self._pt("select_smu", f"T{c}") for c in cols]
        self._dv("select_smu", v_ss)
        self._dv("drain_smu", v_read_V)
        out = np.empty((rows.size, cols.size))
        with self._restoring(("drain_smu", "select_smu")):
            for i, r in enumerate(rows):
                self.mx.route(base + [self._pt("drain_smu", f"D{r}")])
                for j, c in enumerate(cols):
                    s = [self._pt("ground", f"S{c}")]
                    self.mx.close(s)
                    d = self._spot_current("drain_smu")
                    self.mx.open(s)
                    if not d.ok:
                        raise InstrumentError(f"reading cell ({r}, {c}): B1500 status {d.status} "
                                              f"({'compliance' if d.compliance else 'overflow'})")
                    out[i, j] = d.value / v_read_V
        return out

    @contextmanager
    def _restoring(self, roles: tuple[str, ...]) -> Iterator[None]:
        """Set the SMUs of ``roles`` back to 0 V afterwards; a cleanup failure never hides
        the error that ended the block."""
        try:
            yield
        except BaseException:
            for role in roles:
                try:
                    self._dv(role, 0.0)
                except Exception:  # the original error is the one the user must see
                    pass
            raise
        for role in roles:
            self._dv(role, 0.0)

    # -- pulses ----------------------------------------------------------------------------
    def apply_pulse(self, lines: Lines, width_s: float) -> None:
        rws, cls_ = self.shape
        eg = np.broadcast_to(np.asarray(lines.gate_rows, float), (rws,))
        tg = np.broadcast_to(np.asarray(lines.select_cols, float), (cls_,))
        ed = np.broadcast_to(np.asarray(lines.drain, float), (rws,))
        es = np.broadcast_to(np.asarray(lines.source, float), (cls_,))
        if np.any(es != 0):
            raise ParameterError("b1500_matrix wiring grounds every source line (ES); got "
                                 f"non-zero levels {np.unique(es[es != 0]).tolist()} V")
        v_g, v_t, v_d = (_one_level(eg, "gate_rows"), _one_level(tg, "select_cols"),
                         _one_level(ed, "drain"))
        pts = [self._pt("gate_pulse" if eg[r] else "ground", f"G{r}") for r in range(rws)]
        pts += [self._pt("select_pulse" if tg[c] else "ground", f"T{c}") for c in range(cls_)]
        pts += [self._pt("drain_bias" if ed[r] else "ground", f"D{r}") for r in range(rws)]
        pts += [self._pt("ground", f"S{c}") for c in range(cls_)]
        self.mx.route(pts)
        if v_d:
            self._dv("drain_bias", v_d)
        with self._restoring(("drain_bias",) if v_d else ()):
            self._fire(v_g, v_t, width_s)

    def _fire(self, v_gate: float, v_select: float, width_s: float) -> None:
        """One pulse: gate and select outputs together (both SPGU channels, or both
        channels of the pulse generator on one bus trigger)."""
        gate, sel = self.roles["gate_pulse"], self.roles["select_pulse"]
        if gate.startswith("PG"):
            self._fire_pg({int(gate[2:]): v_gate, int(sel[2:]): v_select}, width_s)
            return
        from instruments.b1500 import SPGU
        ch_g, ch_s = int(gate[4:]), int(sel[4:])
        if self._spgu is None:
            self._spgu = SPGU(self.b, sorted({ch_g, ch_s}))
        cfg = ("spgu", v_gate, v_select, width_s)
        if cfg != self._pulse_cfg:
            self._spgu.setup(period_s=min(10.0, 2 * width_s + 1e-6))
            self._spgu.configure(ch_g, 0.0, v_gate, width_s)
            self._spgu.configure(ch_s, 0.0, v_select, width_s)
            self._pulse_cfg = cfg
        self.fired += 1  # counted before the trigger leaves: a lost reply still counts
        self._spgu.run(1)

    def _fire_pg(self, levels: dict[int, float], width_s: float) -> None:
        from instruments.pulsegen import PulseGenerator
        if self.pg is None:
            raise StationError("roles use pulse generator ports (PG1/PG2) but the station has "
                               "no instrument with driver = 'pulsegen'")
        cfg = ("pg", tuple(sorted(levels.items())), width_s)
        if cfg != self._pulse_cfg:
            for ch, v in sorted(levels.items()):
                gen = PulseGenerator(self.pg.transport, self.pg.name, channel=ch)
                if v:  # a 0 V pulse is no pulse: that output stays off (its pins see 0 V)
                    gen.configure(v, 0.0, width_s, 2 * width_s)
                    gen.burst(1)
                gen.output(bool(v))
            self._pulse_cfg = cfg
        self.fired += 1
        self.pg.fire(timeout_s=self.pg.transport.timeout_s + 2 * width_s)

    def pulse_cells(self, mask: np.ndarray, amplitude_V: np.ndarray, width_s: float) -> PulsePlan:
        plan = compile_plan(mask, amplitude_V, self.card, self.scheme, width_s)
        for lines in plan:
            self.apply_pulse(lines, width_s)
        return plan

    # -- DC sweep --------------------------------------------------------------------------
    def iv_sweep(self, cell: Cell, v_V: np.ndarray, compliance_A: float) -> np.ndarray:
        r, c = int(cell[0]), int(cell[1])
        if not (0 <= r < self.shape[0] and 0 <= c < self.shape[1]):
            raise ParameterError(f"cell {cell!r} outside the {self.shape} array")
        v_ss = self.v_ss_V
        v_read = float(self.card.get("read", {}).get("v_read_V", 0.1))
        dwell = float(self.card.get("dc_sweep", {}).get("dwell_s", 1e-3))
        pts = [self._pt("sweep_smu", f"G{r}"), self._pt("select_smu", f"T{c}"),
               self._pt("drain_smu", f"D{r}"), self._pt("ground", f"S{c}")]
        pts += [self._pt("ground", f"G{k}") for k in range(self.shape[0]) if k != r]
        self.mx.route(pts)
        self._dv("select_smu", v_ss)
        self._dv("drain_smu", v_read, compliance_A)
        out = []
        with self._restoring(("sweep_smu", "drain_smu", "select_smu")):
            for seg in _linear_runs(np.asarray(v_V, float)):
                data = self.b.staircase_sweep(self.smu["sweep_smu"], seg[0], seg[-1], seg.size,
                                              0.1, meas_chs=[self.smu["drain_smu"]],
                                              delay_s=dwell)
                out += [d.si for d in data]
        return np.clip(np.asarray(out), -compliance_A, compliance_A)

    # -- teardown --------------------------------------------------------------------------
    def _pg_channels(self) -> list[int]:
        return sorted({int(p[2:]) for p in self.roles.values() if p.startswith("PG")}) or [1]

    def safe_steps(self) -> SafeSteps:
        """Pulse outputs off first, then every SMU (and SPGU) output zeroed and disconnected,
        relays opened last, so that no relay switches a live output."""
        steps: list[tuple[Any, Any]] = []
        if self.pg is not None:
            steps.append((self.pg, lambda: self.pg.safe_state(self._pg_channels())))
        steps.append((self.b, self.b.safe_state))
        steps.append((self.mx, self.mx.safe_state))
        return steps

    def close(self, recover: Recover | None = None) -> list[str]:
        """Return every instrument to its safe state; the ones that could not be."""
        self._pulse_cfg = None      # a reconnected instrument must be configured afresh
        return run_safe_steps(self.safe_steps(), recover)


def _linear_runs(v: np.ndarray) -> list[np.ndarray]:
    """Split a sweep into runs a staircase (start, stop, n) reproduces exactly."""
    runs, i = [], 0
    while i < v.size:
        j = i + 1
        while j + 1 < v.size and np.isclose(v[j + 1] - v[j], v[i + 1] - v[i], rtol=1e-9, atol=1e-9):
            j += 1
        j = min(j, v.size - 1)
        runs.append(v[i:j + 1])
        i = j + 1
    return runs
