"""`InstrumentBackend`: the backend interface on real (or emulated) lab instruments.

A lab station names the instruments and a *wiring* that says how they reach the array:

- ``wiring = "array_controller"``: one array-controller board (our open framed protocol,
  docs/array-controller-protocol.md) drives every line and reads currents.
- ``wiring = "b1500_matrix"``: a B1500A (SMUs + SPGU) reaches the array pins through a
  switch matrix; see `hil.lab.matrix`.

An instrument address ``"loopback"`` connects the driver in-process to an emulator of the
same station (no sockets), which is how the drivers are tested without a bench; the station
layer hands in that emulated lab (``loopback=``), the lab layer imports no simulator.

Lifecycle: constructors do no I/O; `from_station` opens the transports and `connect`s the
wiring (identify, discover modules, enable the SMUs it uses).  `close` (also on leaving a
``with`` block, on Ctrl-C, SIGTERM, an exception or a lost connection) returns every
instrument to a safe state (`hil.lab.teardown`: outputs zeroed and disconnected, pulses
stopped, relays open, controller lines at 0 V), reconnecting an instrument whose connection
was lost, then closes the transports.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

from hil.backend import Backend, Cell, Lines, check_width, line_index
from hil.clock import Clock, RealClock
from hil.errors import HilError, InstrumentError, ParameterError, StationError
from hil.lab.drivers import make_driver
from hil.signals import signals_deferred
from hil.transport import LoopbackTransport, Transport, open_transport

WIRINGS = ("array_controller", "b1500_matrix")
log = logging.getLogger("hil.lab")


def _transport_options(options: dict[str, Any]) -> dict[str, Any]:
    allowed = {"baudrate", "backend"}
    return {k: v for k, v in options.items() if k in allowed}


def _opener(address: str, options: dict[str, Any], emulated: Any, name: str
            ) -> Callable[[], Transport]:
    """A function that opens (or re-opens, after a lost connection) an instrument's transport."""
    timeout = float(options.get("timeout_s", 5.0))
    if address.lower() == "loopback":
        emu = emulated.emulators[name]

        def loop() -> Transport:
            reset = getattr(emu, "reset_connection", None)
            if reset is not None:   # a fresh connection starts with empty input buffers
                reset()
            return LoopbackTransport(emu, timeout)
        return loop
    return lambda: open_transport(address, timeout, **_transport_options(options))


class InstrumentBackend(Backend):
    """Backend composed of drivers; the work is done by a wiring object (`hil.lab.controller`, `hil.lab.matrix`)."""

    kind = "lab"
    #: a bench keeps its state when the host stops: resume continues from the measured state
    device_persists = True

    def __init__(self, wiring: Any, shape: tuple[int, int], card: dict[str, Any],
                 drivers: dict[str, Any], clock: Clock | None = None,
                 emulated: Any = None,
                 reopen: dict[str, Callable[[], Transport]] | None = None) -> None:
        self._wiring = wiring
        self._shape = shape
        self._card = card
        self.drivers = drivers
        self._clock = clock or RealClock()
        self.emulated = emulated  # the in-process emulated lab behind "loopback" addresses
        self._reopen = dict(reopen or {})   # instrument name -> reconnect
        self._closed = False
        #: instruments the last `close` could not return to a safe state (one line each)
        self.teardown_failures: list[str] = []

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_station(cls, station: Any,
                     loopback: Callable[[Any], Any] | None = None) -> "InstrumentBackend":
        """Open every instrument of a lab station, build its wiring and connect it.

        ``loopback(station)`` builds the emulated lab behind ``address = "loopback"``
        instruments (the station layer passes `hil.serve.emulated_lab`)."""
        # the typed, validated lab config (hil.station_config.LabConfig): device and wiring are
        # required there, so nothing here falls back to a default bench
        cfg = station.config.backend
        where = str(station.path or "station")
        table = dict(station.backend)
        wiring, shape, card = cfg.wiring, cfg.shape, dict(station.config.card)
        emulated = None
        if any(str(i["address"]).lower() == "loopback" for i in station.instruments):
            if loopback is None:
                raise StationError(f"{where}: address 'loopback' needs an emulated lab; build "
                                   "the backend with Station.make_backend()")
            emulated = loopback(station)
        drivers: dict[str, Any] = {}
        openers: dict[str, Callable[[], Transport]] = {}
        try:
            for inst in station.instruments:
                opts = dict(inst.get("options", {}))
                openers[inst["name"]] = _opener(str(inst["address"]), opts, emulated, inst["name"])
                drivers[inst["name"]] = (inst["driver"], make_driver(
                    inst["driver"], openers[inst["name"]](), inst["name"], opts))
            if wiring == "array_controller":
                from hil.lab.controller import ControllerWiring as W
            else:
                from hil.lab.matrix import MatrixWiring as W
            w = W.from_drivers(drivers, shape, card, table)
        except BaseException:
            for _, d in drivers.values():
                d.transport.close()
            raise
        backend = cls(w, shape, card, {n: d for n, (_, d) in drivers.items()}, emulated=emulated,
                      reopen=openers)
        try:
            backend.connect()
        except BaseException:
            backend.close()
            raise
        return backend

    def connect(self) -> None:
        """Identify / set up every instrument of the wiring (no output is switched on but the
        SMUs the wiring sources from, at 0 V)."""
        self._wiring.connect()

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
                    width_s: float) -> Any:
        """Program with the station's scheme; returns the `hil.plan.PulsePlan` applied."""
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
        return self._wiring.pulse_cells(m, amp, float(width_s))

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

    def pulse_count(self) -> int | None:
        """The wiring's pulse counter (array controller: the board's own; B1500 + matrix:
        pulses fired by this host since connecting); None when it has none."""
        fn = getattr(self._wiring, "pulse_count", None)
        return None if fn is None else fn()

    @property
    def pulse_counter_persists(self) -> bool:  # type: ignore[override]
        return bool(getattr(self._wiring, "pulse_counter_persists", False))

    def fault_events(self) -> list[str]:
        """Transport faults the drivers handled themselves (retried reads, confirmed pulses)
        since the last call, for the run log."""
        out: list[str] = []
        wired = getattr(self._wiring, "events", None)
        if wired:  # handled by the wiring itself (e.g. a retried B1500 spot measurement)
            out += list(wired)
            wired.clear()
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

    # -- teardown --------------------------------------------------------------------------
    def _reconnect(self, drv: Any, exc: BaseException) -> bool:
        """Re-open the transport of a driver whose connection was lost (teardown only)."""
        name = next((n for n, d in self.drivers.items() if d is drv), None)
        opener = self._reopen.get(name) if name is not None else None
        if opener is None:
            return False
        old, drv.transport = drv.transport, opener()
        try:
            old.close()
        except Exception:  # noqa: BLE001 - the old connection is gone anyway
            pass
        return True

    def close(self) -> None:
        """Return every instrument to a safe state, then close the transports.  Idempotent.

        Never raises (closing must not hide the error that made a run stop): instruments
        that could not be made safe are logged and listed in `teardown_failures`; leaving a
        ``with`` block without an error raises `InstrumentError` for them."""
        if self._closed:
            return
        self._closed = True
        with signals_deferred():   # a second Ctrl-C waits until every instrument is safe
            try:
                self.teardown_failures = list(self._wiring.close(recover=self._reconnect))
            except Exception as exc:  # noqa: BLE001 - a wiring bug must not keep transports open
                self.teardown_failures = [f"teardown: {exc}"]
                log.error("teardown failed: %s", exc)
            for d in self.drivers.values():
                try:
                    d.transport.close()
                except Exception:  # noqa: BLE001 - must not mask the error that made us close
                    pass
            self.drivers = {}

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        self.close()
        if exc_type is None and self.teardown_failures:
            raise InstrumentError("instruments may not be in a safe state: "
                                  + "; ".join(self.teardown_failures))
