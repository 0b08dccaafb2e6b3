"""TCP server for one emulator: VISA ``TCPIP::host::port::SOCKET`` and pyserial ``socket://``.

Clients are served one after another on the same port (like a real instrument's socket
port).  Each connection starts with a clean input buffer; an emulator raising
`ConnectionError` (injected disconnect) drops the connection; the server keeps running.
Memory per connection is bounded by the emulator's line/frame limits and `RECV_CHUNK`.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)
RECV_CHUNK = 65536
#: a client that sends nothing for this long is dropped so the next one can connect
IDLE_TIMEOUT_S = 600.0
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class EmulatorServer:
    """Serve ``emulator.feed`` on a listening socket in a background thread."""

    def __init__(self, emulator: Any, host: str = "127.0.0.1", port: int = 0, name: str = "",
                 idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.emulator = emulator
        self.name = name or getattr(emulator, "name", "emulator")
        self.idle_timeout_s = idle_timeout_s
        self._sock = socket.create_server((host, port), reuse_port=False)
        self._sock.settimeout(0.1)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"hil-serve-{self.name}",
                                        daemon=True)
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
            with conn:
                self._client(conn)

    def _client(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reset = getattr(self.emulator, "reset_connection", None)
        if reset:
            reset()
        idle = 0.0
        while not self._stop.is_set():
            try:
                data = conn.recv(RECV_CHUNK)
            except socket.timeout:
                idle += 0.1
                if idle > self.idle_timeout_s:
                    return
                continue
            except OSError:
                return
            if not data:
                return
            if _QUICKACK is not None:  # ack at once: a client's Nagle never waits 40 ms on us
                try:
                    conn.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                except OSError:
                    pass
            idle = 0.0
            try:
                out = self.emulator.feed(data)
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
