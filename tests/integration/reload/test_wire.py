"""The HTTP/1.1 exchange (reload/wire.py) and the blocking request (reload/exchange.py) against
real sockets: a server thread here answers with exactly the bytes a test gives it."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import childproc
import pytest
from httphead import read_head

from config_reloader.errors import ReloadError, ReloadRejected, ReloadTimeout, TargetNotFound
from config_reloader.reload.answer import MAX_FIELDS, MAX_HEAD, ResponseError
from config_reloader.reload.exchange import Request, post_reload
from config_reloader.reload.wire import Exchange, Unreachable, split_url

Answer = Callable[[socket.socket], None]


class Server:
    """One listening socket; each connection: read the request head, run ``answer``, close."""

    def __init__(self, answer: Answer | bytes, family: int = socket.AF_INET) -> None:
        self.answer: Answer = answer if callable(answer) else (lambda conn: conn.sendall(answer))
        self.sock = socket.socket(family)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.got_request = threading.Event()
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                self.requests.append(read_head(conn))
                self.got_request.set()
                try:
                    self.answer(conn)
                except OSError:
                    pass  # the client closed first (a bound it enforces)

    def close(self) -> None:
        self.stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone does not)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(10)


@contextmanager
def serving(answer: Answer | bytes, family: int = socket.AF_INET) -> Iterator[Server]:
    server = Server(answer, family)
    try:
        yield server
    finally:
        server.close()


def run(
    server: Server, *, method: str = "GET", limit: int | None = None, timeout: float = 10
) -> tuple[int, str, bytes]:
    url = f"http://127.0.0.1:{server.port}/p"
    return Exchange(method, url, {}, timeout=timeout, limit=limit).run()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", (200, "OK", b"hello")),
        # the length is honoured: bytes after it are not part of the body
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello", (200, "OK", b"he")),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc", (200, "OK", b"abc")),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
            (200, "OK", b"hello 0123456789"),
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the close", (200, "OK", b"until the close")),
        (b"HTTP/1.1 500 Internal Server Error\r\n\r\nbroken", (500, "Internal Server Error", b"broken")),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", (200, "OK", b"ok")),
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            (204, "No Content", b""),
        ),
        (b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", (200, "", b"")),  # no reason phrase
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", (304, "Not Modified", b"")),
        (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", (200, "OK", b"ok")),  # bare LF (RFC 9112 2.2)
        (b"HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\nContent-Length: 1\r\n\r\nz", (200, "OK", b"z")),  # obs-fold
    ],
)
def test_answers(answer: bytes, expected: tuple[int, str, bytes]) -> None:
    with serving(answer) as server:
        assert run(server) == expected


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"186A0\r\n"
        + b"x" * 100000
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 100000,
    ],
    ids=["content-length", "chunked", "close"],
)
def test_limit_caps_the_body(answer: bytes) -> None:
    with serving(answer) as server:
        assert run(server, limit=100) == (200, "OK", b"x" * 100)
        assert run(server) == (200, "OK", b"x" * 100000)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "the connection closed without an answer"),
        (b"garbage\r\n\r\n", "status line 'garbage' is not 'HTTP/1.x NNN reason'"),
        (b"HTTP/2 200 OK\r\n\r\n", "status line 'HTTP/2 200 OK'"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "inside the body: 3 of 10 bytes came"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10", "closed inside the header section"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length '-1' is not a length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab", "gives several lengths"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header field 'no colon here' is not 'name: value'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "inside the chunk: 3 of 5"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk-size line 'zz'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n0\r\n\r\n", "CRLF"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n", "before the last chunk"),
    ],
)
def test_malformed_answers(answer: bytes, message: str) -> None:
    with serving(answer) as server, pytest.raises(ResponseError) as err:
        run(server)
    assert message in str(err.value)


def _endless(piece: bytes, head: bytes = b"HTTP/1.1 200 OK\r\n") -> Answer:
    def answer(conn: socket.socket) -> None:
        conn.sendall(head)
        while True:  # until the client closes: then sendall raises and the server thread moves on
            conn.sendall(piece * 64)

    return answer


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (_endless(b"X-Flood: yes\r\n"), f"more than {MAX_FIELDS} header fields"),
        (_endless(b"x" * 1024), f"header section longer than {MAX_HEAD} bytes"),
        (_endless(b"x" * 1024, head=b""), f"status line longer than {MAX_HEAD} bytes"),
        (_endless(b"Set-Cookie: " + b"x" * 4000 + b"\r\n"), f"header section longer than {MAX_HEAD} bytes"),
    ],
    ids=["many-fields", "one-long-field", "long-status-line", "big-fields"],
)
def test_header_flood_is_bounded(answer: Answer, message: str) -> None:
    with serving(answer) as server, pytest.raises(ResponseError, match=message):
        run(server)


def test_slow_loris_server_meets_the_deadline() -> None:
    """A byte every 20 ms keeps every single recv short: the deadline bounds the whole exchange."""

    def trickle(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX: " + b"y" * 10000:
            if server.stop.wait(0.02):
                return
            conn.sendall(bytes([byte]))

    with serving(trickle) as server:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            run(server, timeout=0.5)
        assert time.monotonic() - started < 5  # 0.5 s and scheduling; never the 200 s trickle


def test_request_head_as_sent() -> None:
    with serving(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as server:
        url = f"http://127.0.0.1:{server.port}/-/reload?a=1#frag"
        Exchange("POST", url, {"Authorization": "Basic dTpw"}, timeout=10, limit=None).run()
        Exchange("GET", f"http://127.0.0.1:{server.port}", {}, timeout=10, limit=None).run()
    assert server.requests == [
        b"POST /-/reload?a=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept-Encoding: identity\r\n"
        b"Connection: close\r\nContent-Length: 0\r\nAuthorization: Basic dTpw\r\n\r\n" % server.port,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept-Encoding: identity\r\n"
        b"Connection: close\r\n\r\n" % server.port,
    ]


def test_ipv6_literal() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = Server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6", socket.AF_INET6)
    except OSError:
        pytest.skip("no ::1 on this machine")
    try:
        url = f"http://[::1]:{server.port}/x"
        assert Exchange("GET", url, {}, timeout=10, limit=None).run() == (200, "OK", b"v6")
    finally:
        server.close()
    assert f"\r\nHost: [::1]:{server.port}\r\n".encode() in server.requests[0]


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://127.0.0.1:9090/-/reload", (False, "127.0.0.1", 9090, "127.0.0.1:9090", "/-/reload")),
        ("http://h", (False, "h", 80, "h", "/")),
        ("http://h:80?x=1#f", (False, "h", 80, "h", "/?x=1")),
        ("HTTPS://Prom.Example:443/a?b", (True, "Prom.Example", 443, "Prom.Example", "/a?b")),
        ("https://h:8443/", (True, "h", 8443, "h:8443", "/")),
        ("http://[::1]/x", (False, "::1", 80, "[::1]", "/x")),
        ("http://[fe80::1]:9090", (False, "fe80::1", 9090, "[fe80::1]:9090", "/")),
        ("http://h:/x", (False, "h", 80, "h", "/x")),
    ],
)
def test_split_url(url: str, parts: tuple[bool, str, int, str, str]) -> None:
    assert split_url(url) == parts


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/",
        "http:/h",
        "http://",
        "http://:80/",
        "http://h:x/",
        "http://h:65536/",
        "http://[::1/",
        "http://u@h/",
    ],
)
def test_split_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        split_url(url)


def test_header_values_are_checked() -> None:
    with serving(b"HTTP/1.1 200 OK\r\n\r\n") as server:
        url = f"http://127.0.0.1:{server.port}/"
        with pytest.raises(ValueError, match="'Authorization' holds a line break") as err:
            Exchange("GET", url, {"Authorization": "Bearer a\r\nX-Evil: 1"}, timeout=5, limit=None).run()
        assert "Evil" not in str(err.value)
        with pytest.raises(ValueError, match="'Authorization' is not Latin-1") as err:
            Exchange("GET", url, {"Authorization": "Bearer tök€n"}, timeout=5, limit=None).run()
        assert "tök" not in str(err.value)
        with pytest.raises(ValueError, match="non-ASCII"):
            Exchange("GET", url + "é", {}, timeout=5, limit=None).run()
    assert server.requests == []  # nothing was sent


def test_refused_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening
        url = f"http://127.0.0.1:{s.getsockname()[1]}/"
        with pytest.raises(Unreachable) as err:
            Exchange("GET", url, {}, timeout=5, limit=None).run()
    assert isinstance(err.value.cause, ConnectionRefusedError)


def test_abandon_wakes_a_blocked_exchange() -> None:
    with serving(lambda conn: server.stop.wait(60)) as server:  # never answers
        ex = Exchange("GET", f"http://127.0.0.1:{server.port}/", {}, timeout=60, limit=None)
        outcome: list[BaseException | tuple[int, str, bytes]] = []

        def target() -> None:
            try:
                outcome.append(ex.run())
            except BaseException as exc:  # the test inspects it
                outcome.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        assert server.got_request.wait(10)
        started = time.monotonic()
        ex.abandon()
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - started < 5
        ex.abandon()  # idempotent, also after the thread closed the socket
    assert isinstance(outcome[0], ResponseError | OSError)


# --- the blocking request: errors translated as HttpReload.trigger translates them -------------


def test_post_reload_accepted_and_rejected() -> None:
    with serving(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as server:
        post_reload(f"http://u:s3cret@127.0.0.1:{server.port}/-/reload", timeout=5)
    assert server.requests[0].startswith(b"POST /-/reload HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Basic dTpzM2NyZXQ=\r\n" in server.requests[0]
    rejected = pytest.raises(ReloadRejected, match=r"403 Forbidden: forbidden.*--web\.enable-lifecycle")
    with serving(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden") as server, rejected as err:
        post_reload(f"http://u:s3cret@127.0.0.1:{server.port}/-/reload", timeout=5)
    assert (err.value.status, err.value.body) == (403, "forbidden")
    assert "s3cret" not in str(err.value) and "***@127.0.0.1" in err.value.target


def test_post_reload_errors() -> None:
    slow = pytest.raises(ReloadTimeout, match=r"no answer within 0\.3s; the target may still be loading")
    with serving(lambda conn: server.stop.wait(60)) as server, slow:
        post_reload(f"http://127.0.0.1:{server.port}/-/reload", timeout=0.3)
    bad = pytest.raises(ReloadError, match=r"reload .*: invalid HTTP answer: status line 'nonsense'")
    with serving(b"nonsense\r\n\r\n") as server, bad:
        post_reload(f"http://127.0.0.1:{server.port}/-/reload", timeout=5)
    with socket.socket() as s, pytest.raises(TargetNotFound, match="connection refused"):
        s.bind(("127.0.0.1", 0))
        post_reload(f"http://127.0.0.1:{s.getsockname()[1]}/-/reload", timeout=5)
    with pytest.raises(ValueError, match="timeout"):
        post_reload("http://127.0.0.1:9/-/reload", timeout=0)


def test_request_timeout_message_by_what() -> None:
    with serving(lambda conn: server.stop.wait(60)) as server:
        request = Request(
            "GET", f"http://127.0.0.1:{server.port}/", {}, what="readiness", target="T", timeout=0.2, limit=10
        )
        with pytest.raises(ReloadTimeout) as err:
            request.send()
    assert str(err.value) == "readiness T: no answer within 0.2s"


def test_blocking_path_imports_no_event_loop_nor_http_client() -> None:
    """Also after a request: getaddrinfo is given bytes (a str host loads the idna codec). The
    socket module is not loaded either (_socket is: see reload/wire.py)."""
    code = (
        "import _socket, sys\n"
        "from config_reloader.errors import TargetNotFound\n"
        "from config_reloader.reload.exchange import post_reload\n"
        "s = _socket.socket(); s.bind(('127.0.0.1', 0))\n"
        "try:\n"
        "    post_reload(f'http://127.0.0.1:{s.getsockname()[1]}/-/reload', timeout=5)\n"
        "except TargetNotFound:\n"
        "    pass\n"
        "bad = [m for m in ('asyncio', 'http.client', 'email', 'logging', 'ssl', 'encodings.idna',"
        " 'base64', 'dataclasses', 'concurrent.futures', 'socket', 'typing', 'urllib.parse')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    childproc.run([sys.executable, "-c", code], check=True)
