"""Reading one HTTP/1.x answer (RFC 9112) from a connection: the status line, the header
section and the body, for :mod:`config_reloader.reload.wire`.

The answer's status line ``HTTP/1.0`` or ``HTTP/1.1``; interim 1xx answers skipped (``100
Continue``, ``103 Early Hints``); a body delimited by ``Content-Length``, ``Transfer-Encoding:
chunked`` or the close of the connection (RFC 9112 section 6.3). The status line and header
section together are bounded (:data:`MAX_HEAD` bytes, :data:`MAX_FIELDS` fields), so a hostile
server cannot make it grow without end. Imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MAX_FIELDS", "MAX_HEAD", "ResponseError", "read_response"]

MAX_HEAD = 64 * 1024
"""Bytes of one answer's status line and header section together (http.client: 64 KiB a line)."""
MAX_FIELDS = 100
"""Header fields of one answer (the same bound as http.client)."""
_RECV = 65536  # bytes asked of recv at a time
_MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions
_HEX = frozenset(b"0123456789abcdefABCDEF")
_BODYLESS = frozenset({204, 304})


class ResponseError(ValueError):
    """The answer is not HTTP/1.x as RFC 9112 defines it, or ends early (the message says which
    part: status line, header section, chunk, body)."""


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
