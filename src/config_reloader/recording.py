"""A programmable stand-in for Prometheus' reload API, for tests (re-exported by ``testing``).

It listens on ``127.0.0.1`` (port chosen by the kernel), and on every ``POST /-/reload`` it reads
the configured files and directories *at that moment*, exactly as the service would, and records
what it saw. ``GET /api/v1/status/runtimeinfo`` answers like Prometheus with ``reloadConfigSuccess``
and ``lastConfigTime`` (RFC 3339 with nanoseconds), so verification can be tested too.

Example::

    async with RecordingEndpoint([cfg]) as ep:
        await HttpReload(ep.reload_url, timeout=5).trigger()
        await ep.wait_for(lambda: len(ep.successful) == 1, timeout=10)
        assert ep.reloads[-1].contents[cfg] == b"..."
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from config_reloader.httpserve import HttpServer, Request, Response

__all__ = ["RecordedReload", "RecordingEndpoint", "format_rfc3339_ns", "read_paths"]


@dataclass(frozen=True, slots=True)
class RecordedReload:
    """One ``POST /-/reload`` as the endpoint saw it.

    Attributes:
        at: ``time.monotonic()`` when the request arrived (seconds).
        contents: path -> bytes of every readable file under the configured paths at that moment
            (directory entries are listed non-recursively, ``..``-prefixed names skipped,
            symlinks followed, subdirectories ignored; missing files are absent).
        status: the HTTP status answered (200, 500, 403).
        n: 1-based number of the request.
    """

    at: float
    contents: dict[str, bytes]
    status: int
    n: int = 0


def format_rfc3339_ns(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def read_paths(paths: Sequence[str]) -> dict[str, bytes]:
    """What a service reading ``paths`` sees now (see :class:`RecordedReload` ``.contents``)."""
    out: dict[str, bytes] = {}

    def read_file(path: str) -> None:
        try:
            with open(path, "rb") as f:
                out[path] = f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            pass
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # a symlink loop is unreadable, like a dangling link
                raise

    for p in paths:
        if os.path.isdir(p):
            try:
                names = sorted(os.listdir(p))
            except OSError:
                continue
            for name in names:
                full = os.path.join(p, name)
                if not name.startswith("..") and not os.path.isdir(full):
                    read_file(full)
        else:
            read_file(p)
    return out


@dataclass
class RecordingEndpoint:
    """Recording reload endpoint on ``127.0.0.1`` (async context manager).

    Args:
        paths: files and directories to read on every reload.
        fail: ``fail(n) -> bool``; true answers 500 to the ``n``-th (1-based) POST, e.g.
            ``lambda n: n % 2 == 0`` fails every second request like Thanos' tests.
        delay: seconds to wait after reading the files before answering (a slow reload).
        validator: ``validator(contents) -> bool``; false answers 500 (a config Prometheus rejects)
            and sets ``reloadConfigSuccess`` false.
        lifecycle: false answers 403 like Prometheus without ``--web.enable-lifecycle``.
        ready: ``GET /-/ready`` answers 200 when true, 503 when false (``/-/healthy`` is always 200).
        during: ``during(n)``, run in a worker thread after the ``n``-th POST's files were read and
            before it is answered: a writer at work while the target reloads.

    Attributes (after start): ``url``, ``reload_url``, ``runtimeinfo_url``, ``port``, ``reloads``.
    """

    paths: Sequence[str] = ()
    fail: Callable[[int], bool] | None = None
    delay: float = 0.0
    validator: Callable[[Mapping[str, bytes]], bool] | None = None
    lifecycle: bool = True
    ready: bool = True
    during: Callable[[int], None] | None = None
    reloads: list[RecordedReload] = field(default_factory=list, init=False)
    runtimeinfo_requests: int = field(default=0, init=False)
    reload_config_success: bool = field(default=True, init=False)
    last_config_time_ns: int = field(default_factory=time.time_ns, init=False)
    port: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._server: HttpServer | None = None
        self._started = False
        self._event: asyncio.Event | None = None

    # --- addresses ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def reload_url(self) -> str:
        """Prometheus' reload URL here: ``POST`` records a reload."""
        return self.url + "/-/reload"

    @property
    def runtimeinfo_url(self) -> str:
        """Prometheus' runtime-info URL here (``reloadConfigSuccess``, ``lastConfigTime``)."""
        return self.url + "/api/v1/status/runtimeinfo"

    @property
    def ready_url(self) -> str:
        """``GET`` answers 200 while :attr:`ready` is true, else 503."""
        return self.url + "/-/ready"

    @property
    def successful(self) -> list[RecordedReload]:
        """The reloads answered with 200."""
        return [r for r in self.reloads if r.status == 200]

    # --- handlers -------------------------------------------------------------------------
    def _notify(self) -> None:
        if self._event is not None:
            self._event.set()

    async def _reload(self, request: Request) -> Response:
        n = len(self.reloads) + 1
        at = time.monotonic()
        contents = await asyncio.to_thread(read_paths, self.paths)
        if not self.lifecycle:
            status, text = 403, "Lifecycle API is not enabled."
        elif self.fail is not None and self.fail(n):
            status, text = 500, "failed to reload config: injected failure"
        elif self.validator is not None and not self.validator(contents):
            status, text = 500, "failed to reload config: rejected by validator"
        else:
            status, text = 200, ""
        if status == 200:
            self.reload_config_success = True
            self.last_config_time_ns = max(time.time_ns(), self.last_config_time_ns + 1)
        elif status == 500:
            self.reload_config_success = False
        self.reloads.append(RecordedReload(at=at, contents=contents, status=status, n=n))
        self._notify()
        if self.during is not None:
            await asyncio.to_thread(self.during, n)
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        return Response.text(status, text)

    async def _ready(self, request: Request) -> Response:
        if self.ready:
            return Response.text(200, "Prometheus Server is Ready.\n")
        return Response.text(503, "Service Unavailable")

    async def _healthy(self, request: Request) -> Response:
        return Response.text(200, "Prometheus Server is Healthy.\n")

    async def _runtimeinfo(self, request: Request) -> Response:
        self.runtimeinfo_requests += 1
        body = json.dumps(
            {
                "status": "success",
                "data": {
                    "reloadConfigSuccess": self.reload_config_success,
                    "lastConfigTime": format_rfc3339_ns(self.last_config_time_ns),
                    "corruptionCount": 0,
                    "goroutineCount": 1,
                    "GOMAXPROCS": 2,
                    "storageRetention": "15d",
                },
            }
        )
        return Response(200, body.encode(), {"Content-Type": "application/json; charset=utf-8"})

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start listening on 127.0.0.1 (port 0 the first time, the same port after :meth:`down`)."""
        if self._event is None:
            self._event = asyncio.Event()
        self._started = True
        await self.up()

    async def up(self) -> None:
        """Listen again on the same port (no-op if already listening)."""
        if self._server is not None:
            return
        assert self._started, "call start() first"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        server = HttpServer(
            sock,
            {
                "/-/reload": self._reload,
                "/api/v1/status/runtimeinfo": self._runtimeinfo,
                "/-/ready": self._ready,
                "/-/healthy": self._healthy,
            },
            methods={"/-/reload": ("POST",)},
        )
        try:
            await server.start()
        except BaseException:
            sock.close()
            raise
        self._server = server

    async def down(self) -> None:
        """Go down like a crashed target: stop listening (new connections are refused until
        :meth:`up`) and close open keep-alive connections, aborting requests in flight."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def stop(self) -> None:
        """Stop listening and release everything (idempotent)."""
        await self.down()
        self._started = False

    async def __aenter__(self) -> RecordingEndpoint:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_for(self, pred: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
        """Wait until ``pred()`` is true, re-checking after every request (and every 50 ms).

        Raises:
            TimeoutError: still false after ``timeout`` seconds; the message lists the reloads seen.
        """
        if self._event is None:
            self._event = asyncio.Event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not pred():
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [(r.n, r.status) for r in self.reloads]
                raise TimeoutError(f"condition still false after {timeout:g}s; reloads (n, status): {seen}")
            self._event.clear()
            try:
                async with asyncio.timeout(min(remaining, 0.05)):
                    await self._event.wait()
            except TimeoutError:
                pass
