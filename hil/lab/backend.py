"""`InstrumentBackend`: the backend interface on real (or emulated) lab instruments.

A lab station names the instruments and a *wiring* that says how they reach the array:

- ``wiring = "array_controller"``: one array-controller board (our open framed protocol,
  docs/array-controller-protocol.md) drives every line and reads currents.
- ``wiring = "b1500_matrix"``: a B1500A (SMUs + SPGU) reaches the array pins through a
  switch matrix; see `hil.lab.matrix`.

An instrument address ``"loopback"`` connects the driver in-process to an emulator of the
same station (no sockets), which is how the drivers are tested without a bench.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from hil.backend import Backend, Cell, Lines, check_width, line_index
from hil.cards import load_card
from hil.clock import Clock, RealClock
from hil.errors import HilError, ParameterError, StationError
from hil.lab.drivers import make_driver
from hil.transport import LoopbackTransport, Transport, open_transport

WIRINGS = ("array_controller", "b1500_matrix")


def _transport_options(options: dict[str, Any]) -> dict[str, Any]:
    allowed = {"baudrate", "backend"}
    return {k: v for k, v in options.items() if k in allowed}


class InstrumentBackend(Backend):
    """Backend composed of drivers; the work is done by a wiring object (`hil.lab.controller`, `hil.lab.matrix`)."""

    kind = "lab"

    def __init__(self, wiring: Any, shape: tuple[int, int], card: dict[str, Any],
                 drivers: dict[str, Any], clock: Clock | None = None,
                 emulated: Any = None) -> None:
        self._wiring = wiring
        self._shape = shape
        self._card = card
        self.drivers = drivers
        self._clock = clock or RealClock()
        self.emulated = emulated  # the in-process emulated lab behind "loopback" addresses

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_station(cls, station: Any) -> "InstrumentBackend":
        """Open every instrument of a lab station and build its wiring."""
        table = dict(station.backend)
        where = str(station.path or "station")
        wiring = table.get("wiring", "array_controller")
        if wiring not in WIRINGS:
            raise StationError(f"{where}: [backend] wiring = {wiring!r}; allowed: {list(WIRINGS)}")
        try:
            shape = (int(table.get("rows", 8)), int(table.get("cols", 8)))
        except (TypeError, ValueError):
            raise StationError(f"{where}: [backend] rows/cols must be integers") from None
        card = load_card(table.get("device", "ecram_wox_lipon"))
        emulated = None
        if any(str(i["address"]).lower() == "loopback" for i in station.instruments):
            from sim_backends.emulators.lab import EmulatedLab
            emulated = EmulatedLab.from_station(station)
        drivers: dict[str, Any] = {}
        try:
            for inst in station.instruments:
                opts = dict(inst.get("options", {}))
                timeout = float(opts.get("timeout_s", 5.0))
                if str(inst["address"]).lower() == "loopback":
                    tr: Transport = LoopbackTransport(emulated.emulators[inst["name"]], timeout)
                else:
                    tr = open_transport(str(inst["address"]), timeout, **_transport_options(opts))
                drivers[inst["name"]] = (inst["driver"], make_driver(inst["driver"], tr,
                                                                     inst["name"], opts))
            if wiring == "array_controller":
                from hil.lab.controller import ControllerWiring as W
            else:
                from hil.lab.matrix import MatrixWiring as W
            w = W.from_drivers(drivers, shape, card, table)
        except BaseException:
            for _, d in drivers.values():
                d.transport.close()
            raise
        return cls(w, shape, card, {n: d for n, (_, d) in drivers.items()}, emulated=emulated)

    # -- Backend ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def device(self) -> dict[str, Any]:
        return self._card

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def v_read_default_V(self) -> float:
        return float(self._card.get("read", {}).get("v_read_V", 0.1))

    def read(self, rows: Sequence[int] | np.ndarray | None = None,
             cols: Sequence[int] | np.ndarray | None = None,
             v_read_V: float | None = None) -> np.ndarray:
        v = self.v_read_default_V if v_read_V is None else float(v_read_V)
        r = line_index(rows, self._shape[0], "rows")
        c = line_index(cols, self._shape[1], "cols")
        return self._wiring.read(r, c, v)

    def apply_pulse(self, lines: Lines, width_s: float) -> None:
        check_width(width_s)
        self._wiring.apply_pulse(lines, float(width_s))

    def pulse_cells(self, mask: np.ndarray, amplitude_V: float | np.ndarray,
                    width_s: float) -> None:
        check_width(width_s)
        m = np.asarray(mask)
        if m.shape != self._shape or m.dtype != bool:
            raise ParameterError(f"mask must be a bool array of shape {self._shape}; got "
                                 f"{m.dtype} {m.shape}")
        amp = np.asarray(amplitude_V, float)
        try:
            np.broadcast_to(amp, self._shape)
        except ValueError:
            raise ParameterError(f"amplitude_V of shape {amp.shape} does not broadcast to "
                                 f"{self._shape}") from None
        self._wiring.pulse_cells(m, amp, float(width_s))

    def iv_sweep(self, cell: Cell, v_V: np.ndarray, compliance_A: float) -> np.ndarray:
        if not (np.isfinite(compliance_A) and compliance_A > 0):
            raise ParameterError(f"compliance_A {compliance_A!r}; allowed: a finite value > 0")
        return self._wiring.iv_sweep(cell, np.asarray(v_V, float), float(compliance_A))

    def mtt_read(self, unit: Cell | None, v_read_H_V: float, v_ref_G_V: float,
                 v_drain_V: float) -> np.ndarray:
        fn = getattr(self._wiring, "mtt_read", None)
        if fn is None:
            raise HilError(f"mtt_read needs MTT readout circuitry (reference and inference "
                           f"transistors); the {type(self._wiring).__name__} wiring has none")
        return fn(unit, v_read_H_V, v_ref_G_V, v_drain_V)

    def fault_events(self) -> list[str]:
        """Transport faults the drivers handled themselves (retried reads, confirmed pulses)
        since the last call, for the run log."""
        out: list[str] = []
        for name, d in self.drivers.items():
            events = getattr(d, "events", None)
            if events:
                out += [f"{name}: {e}" for e in events]
                events.clear()
        return out

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["lab_wiring"] = type(self._wiring).__name__
        return state

    def close(self) -> None:
        for d in self.drivers.values():
            try:
                d.transport.close()
            except Exception:  # closing must not mask the error that made us close
                pass
        self.drivers = {}
