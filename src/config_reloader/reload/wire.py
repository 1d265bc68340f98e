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
meets a dead pooled connection, as prometheus-operator's reloader); the answer's status line
``HTTP/1.0`` or ``HTTP/1.1``; interim 1xx answers skipped (``100 Continue``, ``103 Early Hints``);
a body delimited by ``Content-Length``, ``Transfer-Encoding: chunked`` or the close of the
connection (RFC 9112 section 6.3). The status line and header section together are bounded
(:data:`MAX_HEAD` bytes, :data:`MAX_FIELDS` fields), so a hostile server cannot make it grow
without end.
"""

from __future__ import annotations

import _socket
import time

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .client import HttpClientConfig

__all__ = ["MAX_FIELDS", "MAX_HEAD", "Exchange", "ResponseError", "Unreachable", "read_response", "split_url"]

MAX_HEAD = 64 * 1024
"""Bytes of one answer's status line and header section together (http.client: 64 KiB a line)."""
MAX_FIELDS = 100
"""Header fields of one answer (the same bound as http.client)."""
_MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions
_RECV = 65536
_HEX = frozenset(b"0123456789abcdefABCDEF")
_BODYLESS = frozenset({204, 304})
_SEND_BODY = frozenset({"POST", "PUT", "PATCH"})  # methods whose empty body is announced


class ResponseError(ValueError):
    """The answer is not HTTP/1.x as RFC 9112 defines it, or ends early (the message says which
    part: status line, header section, chunk, body)."""


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


class _Reader:
    """Buffered reads from ``recv`` (a socket's ``recv`` under the exchange's deadline)."""

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self._recv = recv
        self._buf = bytearray()

    def _fill(self) -> bool:
        data = self._recv(_RECV)
        if not data:
            return False
        self._buf += data
        return True

    def line(self, limit: int, part: str, bound: int | None = None) -> bytes | None:
        """The next line without its CRLF (or bare LF); ``None`` at end of stream with nothing
        buffered.

        Raises:
            ResponseError: longer than ``limit`` bytes (the message says "``part`` longer than
                ``bound``", default ``limit``), or the stream ends inside the line.
        """
        bound = limit if bound is None else bound
        start = 0
        while True:
            i = self._buf.find(b"\n", start)
            if i >= 0:
                if i + 1 > limit:
                    raise ResponseError(f"{part} longer than {bound} bytes")
                line = bytes(self._buf[:i])
                del self._buf[: i + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buf) > limit:
                raise ResponseError(f"{part} longer than {bound} bytes")
            start = len(self._buf)
            if not self._fill():
                if self._buf:
                    raise ResponseError(f"the connection closed inside the {part}")
                return None

    def exactly(self, n: int, part: str) -> bytes:
        """Raises ResponseError when the stream ends before ``n`` bytes."""
        while len(self._buf) < n:
            if not self._fill():
                raise ResponseError(
                    f"the connection closed inside the {part}: {len(self._buf)} of {n} bytes came"
                )
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def upto(self, n: int | None) -> bytes:
        """Bytes until the end of the stream, at most ``n`` (``None``: no bound)."""
        while (n is None or len(self._buf) < n) and self._fill():
            pass
        out = bytes(self._buf if n is None else self._buf[:n])
        self._buf.clear()
        return out


def _status_line(line: bytes) -> tuple[int, str]:
    """``(status, reason)`` of ``HTTP/1.x NNN reason``.

    Raises:
        ResponseError: anything else (the line is quoted, cut at 80 characters).
    """
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if (
        len(version) != 8
        or not version.startswith(b"HTTP/1.")
        or not version[7:].isdigit()
        or len(code) != 3
        or not code.isdigit()
        or code[0:1] == b"0"
    ):
        shown = line[:80].decode("latin-1")
        raise ResponseError(f"status line {shown!r} is not 'HTTP/1.x NNN reason'")
    return int(code), reason.strip().decode("latin-1")


def _head(reader: _Reader) -> tuple[int, str, dict[str, str]]:
    """One answer's status and header fields (names lower-cased; repeated fields joined by ', ').

    Raises:
        ResponseError: no answer at all, a bad status line or field, over :data:`MAX_HEAD` bytes
            or :data:`MAX_FIELDS` fields.
    """
    budget = MAX_HEAD
    line = reader.line(budget, "status line")
    if line is None:
        raise ResponseError("the connection closed without an answer")
    budget -= len(line) + 2
    status, reason = _status_line(line)
    fields: dict[str, str] = {}
    last = ""
    count = 0
    while True:
        line = reader.line(max(budget, 0), "header section", MAX_HEAD)
        if line is None:
            raise ResponseError("the connection closed inside the header section")
        budget -= len(line) + 2
        if not line:
            return status, reason, fields
        if line[0] in b" \t" and last:  # obs-fold (RFC 9112 section 5.2): a continuation
            fields[last] += " " + line.strip().decode("latin-1")
            continue
        count += 1
        if count > MAX_FIELDS:
            raise ResponseError(f"more than {MAX_FIELDS} header fields")
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            shown = line[:80].decode("latin-1")
            raise ResponseError(f"header field {shown!r} is not 'name: value'")
        last = name.decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        fields[last] = f"{fields[last]}, {text}" if last in fields else text


def _content_length(value: str) -> int:
    """Raises ResponseError unless every comma-separated value is the same decimal number."""
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1:
        raise ResponseError(f"Content-Length {value[:80]!r} gives several lengths")
    (text,) = values
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ResponseError(f"Content-Length {text[:80]!r} is not a length")
    return int(text)


def _chunked(reader: _Reader, limit: int | None) -> bytes:
    """The chunked body's data, at most ``limit`` bytes; reading stops at the last chunk (the
    trailer section is not read: the connection is closed after this answer).

    Raises:
        ResponseError: a malformed chunk-size line or the connection closing inside a chunk.
    """
    out = bytearray()
    while limit is None or len(out) < limit:
        line = reader.line(_MAX_CHUNK_LINE, "chunk-size line")
        if line is None:
            raise ResponseError("the connection closed before the last chunk")
        size_text = line.partition(b";")[0].strip()
        if not size_text or len(size_text) > 15 or not all(c in _HEX for c in size_text):
            shown = line[:80].decode("latin-1")
            raise ResponseError(f"chunk-size line {shown!r} is not a hex size")
        size = int(size_text, 16)
        if size == 0:
            break
        want = size if limit is None else min(size, limit - len(out))
        out += reader.exactly(want, "chunk")
        if want < size:
            break
        if reader.line(2, "chunk's CRLF") != b"":
            raise ResponseError("a chunk does not end with CRLF")
    return bytes(out)


def read_response(
    recv: Callable[[int], bytes], *, limit: int | None, head: bool = False
) -> tuple[int, str, bytes]:
    """Read one answer from ``recv`` (``recv(n)`` returns up to ``n`` bytes, ``b""`` at the end).

    Args:
        limit: the most body bytes kept (the rest is not read); ``None``: no bound.
        head: the request was ``HEAD`` (the answer has no body whatever its fields say).

    Returns:
        ``(status, reason, body)`` of the final answer; interim 1xx answers other than
        ``101 Switching Protocols`` are skipped.

    Raises:
        ResponseError: a malformed or truncated answer (see the module).
        OSError, TimeoutError: from ``recv``.
    """
    reader = _Reader(recv)
    while True:
        status, reason, fields = _head(reader)
        if not 100 <= status < 200 or status == 101:
            break
    if head or status < 200 or status in _BODYLESS:
        return status, reason, b""
    coding = fields.get("transfer-encoding")
    if coding is not None:
        if coding.rpartition(",")[2].strip().lower() == "chunked":
            return status, reason, _chunked(reader, limit)
        return status, reason, reader.upto(limit)  # RFC 9112 6.3: delimited by the close
    length = fields.get("content-length")
    if length is not None:
        n = _content_length(length)
        return status, reason, reader.exactly(n if limit is None else min(n, limit), "body")
    return status, reason, reader.upto(limit)


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
