"""A reload endpoint for the harness: stamps each POST's arrival and reads the watched files then.

Standard library only (``http.server`` on a thread), so its own cost does not depend on the HTTP
library under test, and it works before the project's ``RecordingEndpoint`` exists. It answers
``POST /-/reload`` (Prometheus' reload URL) with 200, or with a programmed failure, delay or
time-out so the soak and property runs can flap the target.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Arrival", "ReloadEndpoint"]


@dataclass(frozen=True)
class Arrival:
    """One reload request: ``at_ns`` CLOCK_MONOTONIC at arrival (before reading files),
    ``contents`` path -> bytes read at that moment (None = missing/unreadable), ``status`` sent."""

    at_ns: int
    contents: dict[str, bytes | None]
    status: int


class ReloadEndpoint:
    """HTTP server on 127.0.0.1:0 recording every reload request.

    Args:
        read_paths: files read (through symlinks) at each arrival. Directories are read as
            every regular file directly inside them, keyed by full path.
        behaviour: called with the 1-based request number; returns ("ok"|"fail"|"slow"|"hang",
            seconds). "fail" answers 500, "slow" sleeps then answers 200, "hang" sleeps then
            drops the connection (the client sees a timeout or a reset).
    """

    def __init__(
        self, read_paths: Sequence[str] = (), behaviour: Callable[[int], tuple[str, float]] | None = None
    ) -> None:
        self.read_paths = list(read_paths)
        self.behaviour = behaviour
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._n = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                at = time.monotonic_ns()
                contents = endpoint._read()
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with endpoint._lock:
                    endpoint._n += 1
                    n = endpoint._n
                kind, seconds = endpoint.behaviour(n) if endpoint.behaviour else ("ok", 0.0)
                if kind in ("slow", "hang") and seconds > 0:
                    time.sleep(seconds)
                if kind == "hang":
                    self.close_connection = True
                    with endpoint._cond:
                        endpoint.arrivals.append(Arrival(at, contents, 0))
                        endpoint._cond.notify_all()
                    return
                status = 500 if kind == "fail" else 200
                body = b"failed\n" if status == 500 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with endpoint._cond:
                    endpoint.arrivals.append(Arrival(at, contents, status))
                    endpoint._cond.notify_all()

            do_PUT = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="reload-endpoint"
        )

    # --------------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> ReloadEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def reload_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/-/reload"

    # ------------------------------------------------------------------------------------ access
    def _read(self) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for p in self.read_paths:
            if os.path.isdir(p):
                with contextlib.suppress(OSError):
                    for e in os.scandir(p):
                        if e.name.startswith("..") or not e.is_file():
                            continue
                        out[e.path] = _read(e.path)
            else:
                out[p] = _read(p)
        return out

    def snapshot(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)

    def count(self) -> int:
        with self._lock:
            return len(self.arrivals)

    def wait_for(self, pred: Callable[[list[Arrival]], bool], timeout: float) -> bool:
        """Block until ``pred(arrivals)`` is true or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(self.arrivals):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
