"""TCP server for one emulator: VISA ``TCPIP::host::port::SOCKET`` and pyserial ``socket://``.

Text-line emulators (anything with ``new_session``) serve several clients at once, each
in its own thread with its own input buffer and reply stream; the instrument state is
shared.  An idle or half-open client therefore never blocks another one.  Emulators
without sessions (the framed array controller) keep the documented single-socket
behaviour of an embedded controller with immediate handover: a new connection replaces
the previous one at once.  An emulator raising `ConnectionError` (injected disconnect)
drops that connection; the server keeps running.  Memory per connection is bounded by the
emulator's line/frame limits and `RECV_CHUNK`.
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
        self._clients: set[threading.Thread] = set()
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
            clients = list(self._clients)
        for t in clients:
            t.join(timeout=2)

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            if not hasattr(self.emulator, "new_session"):
                with self._lock:  # immediate handover: the previous client is dropped
                    old, self._exclusive = self._exclusive, conn
                if old is not None:
                    try:
                        old.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            t = threading.Thread(target=self._client, args=(conn,), daemon=True,
                                 name=f"hil-serve-{self.name}-{self.connections}")
            with self._lock:
                self._clients = {c for c in self._clients if c.is_alive()} | {t}
            t.start()

    def _client(self, conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if hasattr(self.emulator, "new_session"):
                session = self.emulator.new_session(hold_s=self.hold_s)
                feed, poll, due = session.feed, session.poll, session.next_due
            else:
                self.emulator.reset_connection()
                feed, poll, due = self.emulator.feed, (lambda: b""), (lambda: None)
            last = time.monotonic()
            timeout = _POLL_S
            conn.settimeout(timeout)
            while not self._stop.is_set():
                d = due()
                want = _POLL_S if d is None else min(_POLL_S, max(d - time.monotonic(), 1e-3))
                if want != timeout:  # settimeout is a syscall: only when it changes
                    timeout = want
                    conn.settimeout(timeout)
                out = b""
                try:
                    data = conn.recv(RECV_CHUNK)
                except socket.timeout:
                    data = None
                except OSError:
                    return
                if data == b"":
                    return
                try:
                    if data:
                        last = time.monotonic()
                        if _QUICKACK is not None:  # ack at once: a client's Nagle never waits
                            try:
                                conn.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                            except OSError:
                                pass
                        out = feed(data)
                    if d is not None or due() is not None:
                        out += poll()
                except ConnectionError as exc:
                    log.info("%s: dropping connection: %s", self.name, exc)
                    return
                except Exception:  # an emulator bug must not take the server down
                    log.exception("%s: emulator failed; dropping connection", self.name)
                    return
                if out:
                    try:
                        conn.sendall(out)
                    except OSError:
                        return
                elif data is None and time.monotonic() - last > self.idle_timeout_s:
                    return
