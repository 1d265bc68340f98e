"""Fuzz the HTTP/1.x answer parser of the reload client (reload/wire.py read_response): a
well-formed answer, however the bytes arrive, gives back its status, reason and body (cut at the
limit); any other input gives an answer or ResponseError, never another exception."""

from __future__ import annotations

from collections.abc import Callable

from fuzz_budget import fuzz, tried
from hypothesis import given
from hypothesis import strategies as st

from config_reloader.reload.answer import ResponseError, read_response


def _recv_from(data: bytes, cuts: list[int]) -> Callable[[int], bytes]:
    """``recv`` that hands out ``data`` in pieces of the sizes in ``cuts`` (then the rest)."""
    pos = 0
    sizes = iter(cuts)

    def recv(n: int) -> bytes:
        nonlocal pos
        size = min(n, next(sizes, n))
        piece = data[pos : pos + max(size, 1)]
        pos += len(piece)
        return piece

    return recv


_REASON = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=20
)
_FIELD = st.tuples(
    st.sampled_from(["X-A", "Server", "Date", "Content-Type", "Set-Cookie"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
)


def _chunks(body: bytes, sizes: list[int]) -> bytes:
    out, pos = bytearray(), 0
    for size in sizes:
        if pos >= len(body):
            break
        piece = body[pos : pos + size]
        pos += len(piece)
        out += b"%x;ext=1\r\n" % len(piece) + piece + b"\r\n"
    if pos < len(body):
        out += b"%X\r\n" % (len(body) - pos) + body[pos:] + b"\r\n"
    return bytes(out) + b"0\r\nTrailer: t\r\n\r\n"


@fuzz()
@given(
    version=st.sampled_from([b"HTTP/1.0", b"HTTP/1.1"]),
    status=st.integers(200, 599).filter(lambda s: s not in (204, 304)),
    reason=_REASON,
    fields=st.lists(_FIELD, max_size=5),
    interim=st.booleans(),
    body=st.binary(max_size=3000),
    framing=st.sampled_from(["length", "chunked", "close"]),
    chunk_sizes=st.lists(st.integers(1, 700), max_size=8),
    cuts=st.lists(st.integers(1, 200), max_size=40),
    limit=st.one_of(st.none(), st.integers(0, 4000)),
    eol=st.sampled_from([b"\r\n", b"\n"]),
)
def test_well_formed_answers_round_trip(
    version: bytes,
    status: int,
    reason: str,
    fields: list[tuple[str, str]],
    interim: bool,
    body: bytes,
    framing: str,
    chunk_sizes: list[int],
    cuts: list[int],
    limit: int | None,
    eol: bytes,
) -> None:
    tried("answer round trip")
    head = [b"%s %d %s" % (version, status, reason.encode("latin-1"))]
    head += [f"{name}: {value}".encode() for name, value in fields]
    if framing == "length":
        head.append(b"Content-Length: %d" % len(body))
        payload = body
    elif framing == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        payload = _chunks(body, chunk_sizes)
    else:
        payload = body
    data = eol.join(head) + eol + eol + payload
    if interim:
        data = version + b" 100 Continue" + eol + eol + data
    got = read_response(_recv_from(data, cuts), limit=limit)
    shown = reason.encode("latin-1").strip().decode("latin-1")  # ASCII whitespace only
    assert got == (status, shown, body if limit is None else body[:limit])


_VALID = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.0 500 Oops\r\n\r\nbody",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        byte = draw(
            st.sampled_from([b"\r", b"\n", b":", b" ", b"0", b"f", b"-", b"\x00", b"\xff", b"HTTP/1.1 "])
        )
        if action == "insert":
            data[pos:pos] = byte
        elif action == "delete":
            del data[pos : pos + 1]
        elif action == "replace":
            data[pos : pos + 1] = byte
        else:
            del data[pos:]
    return bytes(data)


@fuzz()
@given(
    data=st.one_of(st.binary(max_size=300), _mutated()),
    cuts=st.lists(st.integers(1, 50), max_size=20),
    limit=st.one_of(st.none(), st.integers(0, 100)),
)
def test_any_input_gives_an_answer_or_response_error(data: bytes, cuts: list[int], limit: int | None) -> None:
    tried("answer parser")
    try:
        status, reason, body = read_response(_recv_from(data, cuts), limit=limit)
    except ResponseError as exc:
        assert str(exc)
        return
    assert 100 <= status <= 999 and isinstance(reason, str)
    assert limit is None or len(body) <= limit
