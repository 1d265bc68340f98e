"""A small HTTP/1.1 server on asyncio streams: a few fixed paths, optional TLS.

It serves the status endpoints of ``watch`` and ``run`` (``/metrics``, ``/healthz``, ``/ready``),
which answer small bodies computed in memory. A web framework buys nothing there and costs
~12 MiB RSS and ~0.2 s CPU at start (aiohttp.web, measured in docs/DEPENDENCIES.md), a quarter of
the reloader container's memory limit; asyncio is imported by the engine anyway.

What it does: HTTP/1.0 and 1.1 with keep-alive, ``GET`` and ``HEAD`` (or the methods given per
path; others 405 with ``Allow``), 404 for unknown paths, a query string ignored, request heads
bounded (8 KiB, 100 header lines; else 431 or 400 and the connection closed), a request with a
body answered and then the connection closed (nothing of ours reads a body, and skipping one
safely is not worth the code), idle and slow clients cut after :data:`IDLE_TIMEOUT`, at most
:data:`MAX_CONNECTIONS` connections at once (more are closed at accept). With an
:class:`ssl.SSLContext` the handshake is bounded by :data:`HANDSHAKE_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from config_reloader.listener import bind_listener

if TYPE_CHECKING:
    import ssl

__all__ = ["HttpServer", "Request", "Response", "bind_socket"]

log = logging.getLogger(__name__)

HEAD_LIMIT = 8192
"""Bytes of request line + headers accepted (Go's net/http allows 1 MiB; our paths need little)."""
MAX_HEADERS = 100
IDLE_TIMEOUT = 30.0
"""Seconds a connection may wait for (the rest of) a request head."""
HANDSHAKE_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request head.

    Attributes:
        method: ``GET``, ``HEAD``, ...
        path: the target without the query string.
        headers: lower-cased names -> value (a repeated header keeps its last value).
        peer_certificate: the TLS client certificate as :meth:`ssl.SSLSocket.getpeercert` returns
            it, ``None`` without TLS or without a verified client certificate.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    peer_certificate: dict[str, object] | None = None


@dataclass(slots=True)
class Response:
    """An answer: status, body, headers (``Content-Length`` is added)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str, **headers: str) -> Response:
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **headers})


Handler = Callable[[Request], Awaitable[Response]]


def bind_socket(host: str | None, port: int, *, fileno: int | None = None) -> socket.socket:
    """A listening TCP socket: :func:`config_reloader.listener.bind_listener`'s (``host=None`` = all
    interfaces, dual-stack where the system has IPv6), or the one already bound as ``fileno``
    (the sidecar binds before its first reload), as a :class:`socket.socket` for asyncio.

    Raises:
        OSError: the address cannot be bound (EADDRINUSE, EADDRNOTAVAIL, ...).
    """
    if fileno is None:
        fileno = bind_listener(host, port).detach()
    return socket.socket(fileno=fileno)


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class HttpServer:
    """Serve ``routes`` (path -> handler) on ``sock``.

    Args:
        sock: a listening socket (:func:`bind_socket`); the server owns it from :meth:`start`.
        routes: path -> async handler returning a :class:`Response`.
        guard: called before the handler; a :class:`Response` it returns is sent instead
            (authentication, rate limit). ``None`` = no guard.
        extra_headers: added to every answer (security headers of the web config); a callable
            so a re-read web config applies to the next answer.
        ssl_context: serve TLS with this context; ``None`` = plain HTTP.
        methods: path -> the methods it answers (default ``GET`` and ``HEAD``).
    """

    def __init__(
        self,
        sock: socket.socket,
        routes: Mapping[str, Handler],
        *,
        guard: Callable[[Request], Awaitable[Response | None]] | None = None,
        extra_headers: Callable[[], Mapping[str, str]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        methods: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._sock = sock
        self._methods = dict(methods or {})
        self._routes = dict(routes)
        self._guard = guard
        self._extra_headers = extra_headers
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection,
            sock=self._sock,
            ssl=self._ssl,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT if self._ssl is not None else None,
            limit=HEAD_LIMIT,
        )

    async def stop(self) -> None:
        """Stop listening and end open connections (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in tuple(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(tuple(self._connections), timeout=2.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= MAX_CONNECTIONS or task is None:
            writer.close()
            return
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled: nothing to answer
        except OSError as exc:  # TLS errors after the handshake, resets
            log.debug("status connection error", extra={"err": str(exc)})
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cert = None
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None:
            cert = ssl_object.getpeercert() or None
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                await self._send(writer, "GET", Response.text(431, "request head too large\n"), close=True)
                return
            except asyncio.IncompleteReadError as exc:
                if exc.partial.strip():
                    await self._send(writer, "GET", Response.text(400, "incomplete request\n"), close=True)
                return
            try:
                request, version, keep_alive, has_body = _parse_head(head, cert)
            except _BadRequest as exc:
                await self._send(writer, "GET", Response.text(exc.status, f"{exc}\n"), close=True)
                return
            response = await self._answer(request)
            close = not keep_alive or has_body
            await self._send(writer, request.method, response, close=close, version=version)
            if close:
                return

    async def _answer(self, request: Request) -> Response:
        if self._guard is not None:
            refused = await self._guard(request)
            if refused is not None:
                return refused
        handler = self._routes.get(request.path)
        if handler is None:
            return Response.text(404, "404 page not found\n")
        allowed = self._methods.get(request.path, ("GET", "HEAD"))
        if request.method not in allowed:
            return Response.text(405, "method not allowed\n", Allow=", ".join(allowed))
        return await handler(request)

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        response: Response,
        *,
        close: bool,
        version: str = "HTTP/1.1",
    ) -> None:
        headers = dict(self._extra_headers() if self._extra_headers is not None else {})
        headers.update(response.headers)
        headers["Content-Length"] = str(len(response.body))
        if close:
            headers["Connection"] = "close"
        elif version == "HTTP/1.0":
            headers["Connection"] = "keep-alive"
        reason = _REASONS.get(response.status, "")
        lines = [f"{version} {response.status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(response.body)
        async with asyncio.timeout(IDLE_TIMEOUT):
            await writer.drain()


def _parse_head(head: bytes, cert: dict[str, object] | None) -> tuple[Request, str, bool, bool]:
    """(request, version, keep-alive, has a body) from a request head ending in CRLF CRLF.

    Raises:
        _BadRequest: malformed line, too many headers, an unsupported version.
    """
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover (latin-1 decodes every byte)
        raise _BadRequest(400, "bad request") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise _BadRequest(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(505, "only HTTP/1.0 and HTTP/1.1")
    header_lines = [ln for ln in lines[1:] if ln]
    if len(header_lines) > MAX_HEADERS:
        raise _BadRequest(431, "too many header lines")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "malformed header line")
        headers[name.lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    has_body = headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers
    path = target.partition("?")[0]
    return Request(method.upper(), path, headers, cert), version, keep_alive, has_body
