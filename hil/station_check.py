"""`hil station check`: connect to every instrument of a lab station, identify it, read its
options and error queue; enable no output, move nothing, pulse nothing.

Each driver of the registry (`hil.lab.drivers`) has one query-only check here:

- ``b1500``: ``*IDN?``, ``UNT?`` (installed modules per slot), the ``ERRX?`` queue;
- ``pulsegen`` / ``switch_matrix``: ``*IDN?`` and the ``SYST:ERR?`` queue;
- ``probe_station``: its identification (errors come with each reply, there is no queue);
- ``array_controller``: IDENTIFY (protocol version, array size, voltage limit, firmware) and
  STATUS (flags, pulse counter, last error), with the size compared to the station's.

Only queries are sent: no channel is enabled (``CN``), no output switched (``OUTP``), no
relay closed, no prober contact.  Loopback addresses connect to the station's emulated lab.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from hil.errors import HilError

MAX_ERRORS = 32     # an error queue is finite; never loop forever on a broken reply


@dataclass
class CheckResult:
    """What one instrument answered."""

    name: str
    driver: str
    address: str
    ok: bool
    lines: list[str]


def _drain(ask: Callable[[], tuple[int, str]]) -> list[str]:
    out = []
    for _ in range(MAX_ERRORS):
        code, msg = ask()
        if code == 0:
            break
        out.append(f"{code}: {msg}")
    return out


def _queue(errors: list[str]) -> str:
    return "error queue: empty" if not errors else f"error queue: {len(errors)} error(s): " + "; ".join(errors)


def check_b1500(d: Any, cfg: Any) -> tuple[bool, list[str]]:
    from instruments.b1500 import commands as c
    from instruments.b1500 import parse as p

    idn = d.identify()
    slots = d.discover()
    mods = ", ".join(f"slot {s}: {k}" for s, k in sorted(slots.items())) or "none"
    errors = _drain(lambda: p.parse_errx(d.ask(c.errx())))
    return not errors, [f"*IDN? {idn}", f"UNT? modules: {mods}",
                        f"SMU channels {d.smu_channels()}, SPGU outputs {d.spgu_channels()}", _queue(errors)]


def check_scpi(d: Any, cfg: Any) -> tuple[bool, list[str]]:
    from instruments._line import parse_error_reply

    idn = d.identify()
    errors = _drain(lambda: parse_error_reply(d.ask(d.error_query)))
    return not errors, [f"*IDN? {idn}", _queue(errors)]


def check_prober(d: Any, cfg: Any) -> tuple[bool, list[str]]:
    return True, [f"identification: {d.identify()}", "error queue: none (errors come with each reply)"]


def check_controller(d: Any, cfg: Any) -> tuple[bool, list[str]]:
    ident = d.identify()
    st = d.status()
    ok = (ident.rows, ident.cols) == tuple(cfg.shape) and st.last_error == 0
    lines = [f"IDENTIFY: protocol v{ident.version}, {ident.rows} x {ident.cols} array, |V| <= "
             f"{ident.v_max_V:g} V, firmware {ident.firmware!r}",
             f"STATUS: flags 0x{st.flags:02x}, pulse counter {st.pulse_count}, last error {st.last_error}"]
    if (ident.rows, ident.cols) != tuple(cfg.shape):
        lines.append(f"MISMATCH: the station says {cfg.rows} x {cfg.cols}")
    return ok, lines


#: driver name -> its query-only check
CHECKS: dict[str, Callable[[Any, Any], tuple[bool, list[str]]]] = {
    "b1500": check_b1500, "pulsegen": check_scpi, "switch_matrix": check_scpi,
    "probe_station": check_prober, "array_controller": check_controller,
}


def _transport(inst: Any, emulated: Any) -> Any:
    from hil.transport import LoopbackTransport, open_transport

    timeout = float(inst.options.get("timeout_s", 5.0))
    if inst.loopback:
        return LoopbackTransport(emulated.emulators[inst.name], timeout)
    extra = {k: v for k, v in inst.options.items() if k in ("baudrate", "backend")}
    return open_transport(inst.address, timeout, **extra)


def check_station(station: Any) -> list[CheckResult]:
    """Connect to, identify and query every instrument of a lab station (see module doc)."""
    from hil.errors import StationError
    from hil.lab.drivers import make_driver

    if not station.is_lab:
        raise StationError("hil station check needs a lab station ([backend] type = \"lab\"); "
                           "a simulated station has no instruments")
    cfg = station.config.backend
    emulated = None
    if any(i.loopback for i in station.config.instruments):
        from hil.serve import emulated_lab

        emulated = emulated_lab(station)
    results = []
    for inst in station.config.instruments:
        tr = None
        try:
            tr = _transport(inst, emulated)
            driver_opts = {k: v for k, v in inst.options.items()}
            d = make_driver(inst.driver, tr, inst.name, driver_opts)
            ok, lines = CHECKS[inst.driver](d, cfg)
        except (HilError, OSError) as exc:
            ok, lines = False, [f"FAILED: {type(exc).__name__}: {exc}"]
        finally:
            if tr is not None:
                tr.close()
        results.append(CheckResult(inst.name, inst.driver, inst.address, ok, lines))
    return results
