"""One blocking HTTP/1.1 request on a new connection (RFC 9112), the transport of the reload and
runtime-info clients.

It replaces the standard library's :mod:`http.client`, whose import pulls in ``email.*``,
``datetime`` and ``calendar``: ~49 M instructions after ``asyncio`` (callgrind), each millisecond
of it 0.1 s of the sidecar's start at prometheus-operator's 10 millicore limit (the sidecar's
figures: docs/DEPENDENCIES.md). This module imports ``_socket`` (the C module under
:mod:`socket`) and :mod:`time` only: the :mod:`socket` module adds enums, :mod:`selectors` and
:mod:`array` (~14 M instructions) for nothing used here. :mod:`ssl` is loaded through
:mod:`config_reloader.reload.tls` for ``https`` URLs alone.

What it speaks: one request with ``Connection: close`` (no keep-alive: a restarted target never
meets a dead pooled connection, as prometheus-operator's reloader); the answer is read by
:mod:`config_reloader.reload.answer` (bounded, so a hostile server cannot make it grow without
end; malformed answers raise its ``ResponseError``).
"""

from __future__ import annotations

import _socket
import time

from .answer import read_response

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .client import HttpClientConfig

__all__ = ["Exchange", "Unreachable", "split_url"]

_SEND_BODY = frozenset({"POST", "PUT", "PATCH"})  # methods whose empty body is announced


class Unreachable(Exception):
    """The connection could not be opened: refused, no route, the name does not resolve.

    Attributes:
        cause: the :class:`OSError` of the last address tried.
    """

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause)
        self.cause = cause


def split_url(url: str) -> tuple[bool, str, int, str, str]:
    """Split an ``http``/``https`` URL without credentials (as
    :func:`~config_reloader.reload.urls.split_credentials` returns it).

    Returns:
        ``(https, host, port, host_header, target)``: ``host`` without IPv6 brackets, as written;
        ``port`` the explicit one or 80/443; ``host_header`` the ``Host`` field value (the port only
        when not the scheme's default, an IPv6 literal in brackets); ``target`` the path and query
        (``/`` when the path is empty; no ``?`` when the query is empty), the fragment dropped.

    Raises:
        ValueError: not ``http``/``https``, no host, a port that is not a number in 0-65535.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {scheme!r}")
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < end:
            end = i
    authority = rest[:end]
    path, _, query = rest[end:].partition("#")[0].partition("?")
    target = (path or "/") + (f"?{query}" if query else "")  # an empty query: as urllib, none
    if "@" in authority:
        raise ValueError("URL holds credentials")
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise ValueError("unbalanced '[' in the host")
        host, port_text = authority[1:close], authority[close + 1 :]
        if port_text and not port_text.startswith(":"):
            raise ValueError("text after the IPv6 literal's ']'")
        port_text = port_text[1:]
    else:
        host, _, port_text = authority.partition(":")
    if not host:
        raise ValueError("no host")
    default = 443 if scheme == "https" else 80
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
            raise ValueError(f"port {port_text!r} is not a number in 0-65535")
        port = int(port_text)
    else:
        port = default
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    return scheme == "https", host, port, host_header, target


def _request_bytes(method: str, target: str, host_header: str, headers: Mapping[str, str]) -> bytes:
    """The request head (no body).

    Raises:
        ValueError: a line break in a header, a non-ASCII path or a header value that is not
            Latin-1 (the message names the field, never its value).
    """
    if not target.isascii():
        raise ValueError("the URL's path or query holds non-ASCII characters: percent-encode them")
    if not host_header.isascii():
        host_header = host_header.encode("idna").decode("ascii")  # rare: an internationalised name
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", "Accept-Encoding: identity"]
    lines.append("Connection: close")
    if method in _SEND_BODY:
        lines.append("Content-Length: 0")
    for name, value in headers.items():
        if any(c in name for c in "\r\n:") or "\r" in value or "\n" in value:
            raise ValueError(f"header {name.strip()!r} holds a line break or a colon")
        lines.append(f"{name}: {value}")
    text = "\r\n".join(lines) + "\r\n\r\n"
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        bad = next(n for n, v in headers.items() if not _latin1(n) or not _latin1(v))
        raise ValueError(f"header {bad!r} is not Latin-1 text") from None


def _latin1(text: str) -> bool:
    return all(ord(c) < 256 for c in text)


class Exchange:
    """One blocking request on a new connection: connect, send, read the answer, close.

    ``timeout`` bounds the whole exchange: every socket operation gets the time left of it (name
    resolution is the system's ``getaddrinfo`` and is not bounded; an IP address needs none).
    Another thread may call :meth:`abandon` to make a blocked socket call return at once.

    Args:
        method: ``POST``, ``GET``, ...
        url: ``http``/``https`` URL without credentials.
        headers: extra header fields (``Authorization``); ``Host``, ``Accept-Encoding: identity``,
            ``Connection: close`` and, for ``POST``/``PUT``/``PATCH``, ``Content-Length: 0`` are
            always sent.
        timeout: seconds for the whole exchange.
        limit: the most body bytes read; ``None``: no bound.
        client: TLS settings for ``https`` (``None``: the defaults).
    """

    def __init__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        limit: int | None,
        client: HttpClientConfig | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.limit = limit
        self.client = client
        self._sock: _socket.socket | None = None

    def run(self) -> tuple[int, str, bytes]:
        """Returns ``(status, reason, body)``; ``body`` holds at most ``limit`` bytes.

        Raises:
            Unreachable: connect failed (not a timeout).
            TimeoutError: the exchange did not finish within ``timeout`` seconds.
            TlsFailure: the TLS handshake failed (the message names the flags that fix it).
            ResponseError: a malformed or truncated answer.
            OSError: any other transport error (reset, ...).
            ValueError: a header that cannot be sent, or (``https``) a CA, certificate or key
                file that does not load.
        """
        deadline = time.monotonic() + self.timeout
        https, host, port, host_header, target = split_url(self.url)
        request = _request_bytes(self.method, target, host_header, self.headers)

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
            return remaining

        wrap = None
        if https:
            # ssl only for https targets (the system CA bundle alone is ~10 ms, ~1 MiB); the
            # context is built before connecting, so a CA file that does not load says so first.
            from .tls import client_wrapper

            wrap = client_wrapper(host, self.client)
        sock = self._connect(host, port, left)
        try:
            if wrap is not None:
                sock.settimeout(left())
                sock = self._sock = wrap(sock)
            sock.settimeout(left())
            sock.sendall(request)

            def recv(n: int) -> bytes:
                sock.settimeout(left())
                return sock.recv(n)

            return read_response(recv, limit=self.limit, head=self.method == "HEAD")
        finally:
            sock.close()

    def _connect(self, host: str, port: int, left: Callable[[], float]) -> _socket.socket:
        """Raises Unreachable, TimeoutError (as :meth:`run`)."""
        # Bytes, not str: getaddrinfo encodes a str host with the "idna" codec, whose import
        # (encodings.idna, stringprep, unicodedata) costs ~3.5 ms of CPU.
        name = host.encode("ascii") if host.isascii() else host.encode("idna")
        try:
            infos = _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM)
        except OSError as exc:
            raise Unreachable(exc) from exc
        last: OSError | None = None
        for family, kind, proto, _canon, address in infos:
            sock = self._sock = _socket.socket(family, kind, proto)
            try:
                sock.settimeout(left())
                sock.connect(address)
            except TimeoutError:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                last = exc
                continue
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            return sock
        raise Unreachable(last or OSError("no address"))

    def abandon(self) -> None:
        """Wake a thread blocked in :meth:`run` (thread-safe, idempotent)."""
        sock = self._sock
        if sock is not None:
            try:
                # The plain socket's shutdown: SSLSocket.shutdown would also drop its TLS state.
                _socket.socket.shutdown(sock, _socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the thread, or not connected yet
