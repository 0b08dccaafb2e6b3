"""`hil watch`: a small local web server that follows a run file while it is written.

Bound to 127.0.0.1 (port 0 = a free port).  Routes:
  /                    the page (static HTML + JS from this package)
  /static/plotly.js    Plotly, served from the installed ``plotly`` package (no CDN: works offline)
  /api/snapshot        the run's committed state as JSON (`hil.watch.snapshot`); ``?version=V``
                       answers 204 when nothing was committed since version V
  /api/plot.png        the protocol's standard plot (the same figure as `hil plot`)
The page polls /api/snapshot and replaces (never appends) its data, so browser memory stays
flat however long the run.  Reads go through `hil.store.Run`, which never locks the file.
"""
from __future__ import annotations

import io
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from hil.errors import HilError
from hil.store import Run
from hil.watch.snapshot import snapshot, to_json

#: the fewest seconds between two reads of the file (a commit every few ms would otherwise
#: make the server re-read continuously)
MIN_READ_INTERVAL_S = 0.5
#: the fewest seconds between two renderings of the standard plot while the run goes on
MIN_PLOT_INTERVAL_S = 5.0


def plotly_js_path() -> Path:
    """Plotly's bundled JavaScript inside the installed ``plotly`` package."""
    try:
        import plotly
    except ImportError as exc:  # a declared dependency: only a broken install gets here
        raise HilError("hil watch needs the 'plotly' package (pip install plotly)") from exc
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise HilError(f"the installed plotly has no bundled plotly.min.js at {str(path)!r}")
    return path


class Watcher:
    """Reads a run file at most every `MIN_READ_INTERVAL_S` and keeps the last good snapshot,
    so a reader error (the writer mid-commit, a full disk) never reaches the page as a crash."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._version: str = ""
        self._body: bytes = b""
        self._checked = 0.0
        self._rate: tuple[float, int] | None = None   # (wall time, step) of the first change seen
        self._plot: tuple[str, bytes, float] | None = None
        self.error = ""

    def _file_version(self) -> str:
        st = self.path.stat()
        return f"{st.st_mtime_ns}-{st.st_size}"

    def current(self) -> tuple[str, bytes]:
        """(version, JSON body) of the latest readable state."""
        with self._lock:
            now = time.monotonic()
            if self._body and now - self._checked < MIN_READ_INTERVAL_S:
                return self._version, self._body
            self._checked = now
            try:
                version = self._file_version()
                if version != self._version or not self._body:
                    data = snapshot(Run.open(self.path))
                    data["eta_s"] = self._eta(data)
                    data["version"] = version
                    data["read_error"] = ""
                    self._version, self._body, self.error = version, to_json(data), ""
            except Exception as exc:  # keep serving the last good state
                self.error = f"{type(exc).__name__}: {exc}"
                if not self._body:
                    self._body = to_json({"version": "", "read_error": self.error, "views": [],
                                          "history": [], "file": self.path.name})
            return self._version, self._body

    def _eta(self, data: dict[str, Any]) -> float | None:
        step, n = data.get("step", -1), data.get("n_steps")
        if data.get("status") != "running" or not n or step < 0:
            self._rate = None
            return None
        now = time.monotonic()
        if self._rate is None or step < self._rate[1]:
            self._rate = (now, step)
            return None
        t0, s0 = self._rate
        if step == s0 or now <= t0:
            return None
        return (n - 1 - step) * (now - t0) / (step - s0)

    def plot_png(self) -> bytes:
        """The protocol's standard plot of the current state (throttled while running)."""
        from hil.plotting import plot_run

        version, _ = self.current()
        with self._lock:
            if self._plot and (self._plot[0] == version or
                               time.monotonic() - self._plot[2] < MIN_PLOT_INTERVAL_S):
                return self._plot[1]
        buf = io.BytesIO()
        plot_run(self.path, buf, dpi=90)
        png = buf.getvalue()
        with self._lock:
            self._plot = (version, png, time.monotonic())
        return png


def _static(name: str) -> bytes:
    return (resources.files("hil.watch") / "static" / name).read_bytes()


def make_handler(watcher: Watcher) -> type[BaseHTTPRequestHandler]:
    plotly_path = plotly_js_path()

    class Handler(BaseHTTPRequestHandler):
        server_version = "hil-watch"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the terminal shows progress
            pass

        def _send(self, code: int, body: bytes = b"", ctype: str = "text/plain; charset=utf-8",
                  cache: bool = False) -> None:
            self.send_response(code)
            if body or code == HTTPStatus.OK:
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=86400" if cache else "no-store")
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            url = urlparse(self.path)
            try:
                if url.path in ("/", "/index.html"):
                    self._send(200, _static("index.html"), "text/html; charset=utf-8")
                elif url.path == "/static/watch.js":
                    self._send(200, _static("watch.js"), "text/javascript; charset=utf-8")
                elif url.path == "/static/plotly.js":
                    self._send(200, plotly_path.read_bytes(), "text/javascript; charset=utf-8", cache=True)
                elif url.path == "/api/snapshot":
                    known = parse_qs(url.query).get("version", [""])[0]
                    version, body = watcher.current()
                    if known and known == version:
                        self._send(HTTPStatus.NO_CONTENT)
                    else:
                        self._send(200, body, "application/json")
                elif url.path == "/api/plot.png":
                    try:
                        self._send(200, watcher.plot_png(), "image/png")
                    except Exception as exc:  # e.g. results not written yet while running
                        self._send(HTTPStatus.SERVICE_UNAVAILABLE,
                                   f"standard plot not available yet: {exc}".encode())
                else:
                    self._send(HTTPStatus.NOT_FOUND, b"not found")
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_HEAD = do_GET

    return Handler


class WatchServer:
    """The live-view server of one run file; `start()` serves in a background thread."""

    def __init__(self, path: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.path = Path(path)
        self.host, self.port = host, int(port)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Bind, serve in a daemon thread, return the page's URL."""
        Run.open(self.path)  # a clear error now instead of a blank page later
        watcher = Watcher(self.path)
        try:
            self._httpd = ThreadingHTTPServer((self.host, self.port), make_handler(watcher))
        except OSError as exc:
            raise HilError(f"hil watch: cannot listen on {self.host}:{self.port}: {exc}") from None
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hil-watch", daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "WatchServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
