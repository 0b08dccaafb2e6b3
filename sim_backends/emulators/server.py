"""TCP server for one emulator: VISA ``TCPIP::host::port::SOCKET`` and pyserial ``socket://``.

Text-line emulators (anything with ``new_session``; a session keeps its held data in its
``pending`` list) serve several clients at once, each in its own thread with its own input
buffer and reply stream; the instrument state is shared.  An idle or half-open client
therefore never blocks another one.  Emulators without sessions (the framed array
controller) keep the documented single-socket behaviour of an embedded controller with
immediate handover: a new connection replaces the previous one at once.  An emulator
raising `ConnectionError` (injected disconnect) drops that connection; the server keeps
running.  Memory per connection is bounded by the emulator's line/frame limits and
`RECV_CHUNK`.

Per query the socket loop costs one ``recv`` and one ``sendall``: connection threads block
in ``recv`` without a timeout (a Python socket timeout adds a ``poll`` before every call),
except while held measurement data wait; `stop` and the idle reaper (run on the accept
loop's poll tick) end them by shutting their socket down.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

log = logging.getLogger(__name__)
RECV_CHUNK = 65536
#: a connection that sends nothing for this long is closed (frees its thread; never blocks
#: other clients, which are served in their own threads)
IDLE_TIMEOUT_S = 600.0
#: how long XE measurement data are held back in a socket session (s): the emulated
#: measurement time, during which a ``*OPC?`` is answered first
MEASURE_HOLD_S = 0.15
_POLL_S = 0.1
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class EmulatorServer:
    """Serve ``emulator`` on a listening socket in background threads."""

    def __init__(self, emulator: Any, host: str = "127.0.0.1", port: int = 0, name: str = "",
                 idle_timeout_s: float = IDLE_TIMEOUT_S, hold_s: float = MEASURE_HOLD_S) -> None:
        self.emulator = emulator
        self.name = name or getattr(emulator, "name", "emulator")
        self.idle_timeout_s = idle_timeout_s
        self.hold_s = hold_s
        self._sock = socket.create_server((host, port), reuse_port=False)
        self._sock.settimeout(_POLL_S)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"hil-serve-{self.name}",
                                        daemon=True)
        self._clients: dict[threading.Thread, _Client] = {}
        self._exclusive: socket.socket | None = None  # the one connection of a session-less emulator
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def visa_resource(self) -> str:
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    @property
    def serial_url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def start(self) -> "EmulatorServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        with self._lock:
            clients = list(self._clients.items())
        for t, conn in clients:
            _hang_up(conn.sock)  # wakes its thread out of the blocking recv
        for t, _ in clients:
            t.join(timeout=2)

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._reap_idle()
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            if not hasattr(self.emulator, "new_session"):
                with self._lock:  # immediate handover: the previous client is dropped
                    old, self._exclusive = self._exclusive, conn
                if old is not None:
                    _hang_up(old)
            client = _Client(conn)
            t = threading.Thread(target=self._client, args=(client,), daemon=True,
                                 name=f"hil-serve-{self.name}-{self.connections}")
            with self._lock:
                self._clients = {c: k for c, k in self._clients.items() if c.is_alive()}
                self._clients[t] = client
            t.start()

    def _reap_idle(self) -> None:
        """Hang up connections silent for longer than `idle_timeout_s` (their threads block
        in recv without a timeout, so the accept loop's poll tick watches them)."""
        now = time.monotonic()
        with self._lock:
            idle = [c for c in self._clients.values() if now - c.last > self.idle_timeout_s]
        for c in idle:
            _hang_up(c.sock)

    def _client(self, client: "_Client") -> None:
        conn = client.sock
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if hasattr(self.emulator, "new_session"):
                session = self.emulator.new_session(hold_s=self.hold_s)
                feed, poll, due = session.feed, session.poll, session.next_due
                held: Any = session.pending   # the session's held data (changed in place)
            else:
                self.emulator.reset_connection()
                feed, poll, due = self.emulator.feed, (lambda: b""), (lambda: None)
                held = ()
            # blocking recv (one syscall per read; a timeout costs a poll() before every
            # recv and send): a timeout only while held data wait for their due time;
            # stop() and the idle reaper hang the socket up to end the thread
            timeout: float | None = None
            conn.settimeout(None)
            recv, sendall, monotonic = conn.recv, conn.sendall, time.monotonic
            d = None   # due time of held data: changes only by this loop's feed and poll
            while True:
                if d is not None or timeout is not None:
                    want = None if d is None else min(_POLL_S, max(d - monotonic(), 1e-3))
                    if want != timeout:
                        timeout = want
                        conn.settimeout(timeout)
                try:
                    data = recv(RECV_CHUNK)
                except socket.timeout:
                    data = None
                except OSError:
                    return
                if not data and (data == b"" or self._stop.is_set()):
                    return
                out = b""
                try:
                    if data:
                        client.last = monotonic()
                        out = feed(data)
                    if d is not None or held:   # held data: due now, or when?
                        out += poll()
                        d = due()
                except ConnectionError as exc:
                    log.info("%s: dropping connection: %s", self.name, exc)
                    return
                except Exception:  # an emulator bug must not take the server down
                    log.exception("%s: emulator failed; dropping connection", self.name)
                    return
                if out:
                    try:
                        sendall(out)  # one send per reply; it carries the ACK of the command
                    except OSError:
                        return
                elif data and _QUICKACK is not None:
                    # nothing to answer (a write-only command, half a line): ack at once, so a
                    # client's Nagle never waits for the delayed ACK before its next command
                    try:
                        conn.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                    except OSError:
                        pass


class _Client:
    """One served connection and when it last sent something (for the idle reaper)."""

    __slots__ = ("sock", "last")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.last = time.monotonic()


def _hang_up(sock: socket.socket) -> None:
    """Shut a connection down (its thread's recv returns b"" and the thread ends)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
