"""Byte transports between drivers and instruments (real or emulated).

Every transport moves raw bytes and knows nothing about the instrument:
- `VisaTransport`   pyvisa (pyvisa-py ``@py`` backend by default): GPIB, USB, ``TCPIP::…::SOCKET``.
- `SerialTransport` pyserial ``serial_for_url``: ``COM3``, ``/dev/ttyUSB0``, ``socket://host:port``.
- `LoopbackTransport` in-process: feeds an emulator object directly (no sockets, no threads).
- `ScriptedTransport` checks the exact bytes written and answers canned bytes (byte-exact tests).

Timeouts are per call (``timeout_s``) so a long sweep can wait as long as it needs instead of
hitting a fixed VISA timeout.  A timeout, a closed connection or a garbled frame raise
`hil.errors.TransportError`; ``transient=True`` means a *read* may be retried.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Protocol, Sequence

from hil.errors import ParameterError, TransportError

DEFAULT_TIMEOUT_S = 5.0
#: longest reply line we accept; a longer one is garbage or a runaway instrument
MAX_REPLY_BYTES = 16 * 1024 * 1024


class Transport(ABC):
    """Raw byte pipe with per-call timeouts."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise ParameterError(f"timeout_s must be > 0 s, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send ``data`` as is."""

    @abstractmethod
    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        """Read up to and including ``terminator``; return the bytes without it."""

    @abstractmethod
    def read_exact(self, n: int, timeout_s: float | None = None) -> bytes:
        """Read exactly ``n`` bytes."""

    def close(self) -> None:
        """Release the connection.  Idempotent."""

    def discard_input(self) -> None:
        """Drop bytes received but not yet read (a half reply before a retry)."""

    def _t(self, timeout_s: float | None) -> float:
        return self.timeout_s if timeout_s is None else float(timeout_s)


class _BufferedTransport(Transport):
    """Common buffering over a `_recv(max_bytes, deadline)` primitive."""

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self._buf = bytearray()

    @abstractmethod
    def _recv(self, deadline: float) -> bytes:
        """Return whatever bytes arrive before ``deadline`` (b"" on timeout)."""

    def discard_input(self) -> None:
        self._buf.clear()

    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        deadline = time.monotonic() + self._t(timeout_s)
        while True:
            i = self._buf.find(terminator)
            if i >= 0:
                out = bytes(self._buf[:i])
                del self._buf[:i + len(terminator)]
                return out
            if len(self._buf) > MAX_REPLY_BYTES:
                self._buf.clear()
                raise TransportError(f"reply longer than {MAX_REPLY_BYTES} bytes without "
                                     f"terminator {terminator!r}: garbled or runaway instrument")
            if time.monotonic() >= deadline:
                raise TransportError(f"timeout after {self._t(timeout_s):g} s waiting for "
                                     f"{terminator!r} (partial reply {bytes(self._buf[:80])!r})")
            self._buf += self._recv(deadline)

    def read_exact(self, n: int, timeout_s: float | None = None) -> bytes:
        deadline = time.monotonic() + self._t(timeout_s)
        while len(self._buf) < n:
            if time.monotonic() >= deadline:
                raise TransportError(f"timeout after {self._t(timeout_s):g} s: got "
                                     f"{len(self._buf)} of {n} bytes")
            self._buf += self._recv(deadline)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


class SerialTransport(_BufferedTransport):
    """pyserial transport; ``url`` is anything `serial.serial_for_url` accepts."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S, baudrate: int = 115200,
                 **kwargs: Any) -> None:
        super().__init__(timeout_s)
        import serial  # local import: pyserial is only needed on a bench
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05, **kwargs)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise TransportError(f"cannot open serial port {url!r}: {exc}", transient=False) from exc
        self.url = url

    def write(self, data: bytes) -> None:
        import serial
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"{self.url}: write failed (disconnected?): {exc}",
                                 transient=False) from exc

    def _recv(self, deadline: float) -> bytes:
        import serial
        t = 0.05 if deadline - time.monotonic() > 0.05 else max(0.0, deadline - time.monotonic())
        if t != self._port.timeout:  # reconfiguring a real port costs a system call
            self._port.timeout = t
        try:
            waiting = max(1, self._port.in_waiting)
            data = self._port.read(waiting)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"{self.url}: read failed (disconnected?): {exc}",
                                 transient=False) from exc
        return data

    def discard_input(self) -> None:
        super().discard_input()
        if getattr(self, "_port", None) is not None:
            self._port.reset_input_buffer()

    def close(self) -> None:
        if getattr(self, "_port", None) is not None:
            self._port.close()
            self._port = None


class VisaTransport(Transport):
    """pyvisa transport.  ``backend`` defaults to pyvisa-py (``"@py"``)."""

    def __init__(self, resource: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 backend: str = "@py", **kwargs: Any) -> None:
        super().__init__(timeout_s)
        import pyvisa
        try:
            self._rm = pyvisa.ResourceManager(backend)
            self._res = self._rm.open_resource(resource, **kwargs)
        except (pyvisa.Error, OSError, ValueError) as exc:
            raise TransportError(f"cannot open VISA resource {resource!r}: {exc}",
                                 transient=False) from exc
        self._res.read_termination = None
        self._res.write_termination = None
        self.resource = resource

    def write(self, data: bytes) -> None:
        import pyvisa
        try:
            self._res.write_raw(data)
        except (pyvisa.Error, OSError) as exc:
            raise TransportError(f"{self.resource}: write failed: {exc}", transient=False) from exc

    def _set_timeout(self, timeout_s: float) -> None:
        self._res.timeout = max(1, int(round(timeout_s * 1000)))

    def _visa_error(self, exc: Exception, what: str) -> TransportError:
        import pyvisa
        timeout = getattr(exc, "error_code", None) == pyvisa.constants.StatusCode.error_timeout
        return TransportError(f"{self.resource}: {what} failed: {exc}", transient=timeout)

    def read_until(self, terminator: bytes, timeout_s: float | None = None) -> bytes:
        import pyvisa
        term = terminator.decode("latin-1")
        if self._res.read_termination != term:
            self._res.read_termination = term
        self._set_timeout(self._t(timeout_s))
        try:
            raw = self._res.read_raw()
        except (pyvisa.Error, OSError) as exc:
            raise self._visa_error(exc, "read") from exc
        return raw[:-len(terminator)] if raw.endswith(terminator) else raw

    def read_exact(self, n: int, timeout_s: float | None = None) -> bytes:
        import pyvisa
        self._set_timeout(self._t(timeout_s))
        try:
            return bytes(self._res.read_bytes(n))
        except (pyvisa.Error, OSError) as exc:
            raise self._visa_error(exc, "read") from exc

    def close(self) -> None:
        if getattr(self, "_res", None) is not None:
            self._res.close()
            self._rm.close()
            self._res = None


class Feedable(Protocol):
    """What `LoopbackTransport` talks to: an emulator that turns input bytes into output bytes."""

    def feed(self, data: bytes) -> bytes: ...


class LoopbackTransport(_BufferedTransport):
    """In-process transport: ``write`` feeds the emulator, its output is read back at once.

    Nothing arrives later, so a missing reply is a timeout immediately (no waiting).
    An emulator raising `ConnectionError` models a disconnect.
    """

    def __init__(self, emulator: Feedable, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self.emulator = emulator
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportError("loopback: write on a closed transport", transient=False)
        try:
            self._buf += self.emulator.feed(bytes(data))
        except ConnectionError as exc:
            self._closed = True
            raise TransportError(f"loopback: instrument disconnected: {exc}",
                                 transient=False) from exc

    def _recv(self, deadline: float) -> bytes:
        raise TransportError("loopback: timeout, the instrument sent no (complete) reply")

    def close(self) -> None:
        self._closed = True


class ScriptedTransport(_BufferedTransport):
    """Checks every write against a script of ``(expected_bytes, reply_bytes)`` pairs.

    Use in byte-exact tests: ``ScriptedTransport([(b"UNT?\\n", b"B1517A,0;…\\r\\n")])``.
    A write that differs from the next expected one raises `AssertionError` naming both.
    """

    def __init__(self, script: Sequence[tuple[bytes, bytes | None]],
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(timeout_s)
        self.script = list(script)
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        if not self.script:
            raise AssertionError(f"unexpected write {data!r}: script exhausted")
        expected, reply = self.script.pop(0)
        if bytes(data) != expected:
            raise AssertionError(f"wrote {data!r}, expected {expected!r}")
        if reply:
            self._buf += reply

    def _recv(self, deadline: float) -> bytes:
        raise TransportError("scripted: timeout, no reply scripted")

    @property
    def done(self) -> bool:
        """True when every scripted exchange happened."""
        return not self.script


def open_transport(address: str, timeout_s: float = DEFAULT_TIMEOUT_S, **options: Any) -> Transport:
    """Open the transport an address names.

    ``socket://``, ``loop://``, ``rfc2217://``, ``COMn`` and ``/dev/…`` go to pyserial;
    ``TCPIP…``, ``GPIB…``, ``USB…``, ``ASRL…`` go to pyvisa.
    """
    a = address.strip()
    low = a.lower()
    if "://" in low or low.startswith("com") or low.startswith("/dev/"):
        return SerialTransport(a, timeout_s=timeout_s, **options)
    if low.split(":")[0].rstrip("0123456789") in ("tcpip", "gpib", "usb", "asrl", "visa"):
        return VisaTransport(a, timeout_s=timeout_s, **options)
    raise ParameterError(f"cannot tell the transport of address {address!r}: use socket://HOST:PORT, "
                         "COMn or /dev/tty… (serial) or a VISA resource (TCPIP…, GPIB…, USB…, ASRL…)")
