"""config_reloader.httpserve over real sockets on loopback: routing, methods, keep-alive, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from config_reloader.httpserve import HEAD_LIMIT, HttpServer, Request, Response, bind_socket


async def _hello(request: Request) -> Response:
    return Response.text(200, f"hello {request.method} {request.path}\n")


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    srv = HttpServer(
        bind_socket("127.0.0.1", 0), {"/hello": _hello, "/post": _hello}, methods={"/post": ("POST",)}
    )
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def _exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw``, read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


async def test_get_head_404_405(server: HttpServer) -> None:
    got = await _exchange(server.port, b"GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"\r\n\r\nhello GET /hello\n")
    assert b"Content-Length: 17\r\n" in got
    head = await _exchange(server.port, b"HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")  # no body
    missing = await _exchange(server.port, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert missing.startswith(b"HTTP/1.1 404 ")
    wrong = await _exchange(
        server.port, b"POST /hello HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert wrong.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD\r\n" in wrong
    post = await _exchange(
        server.port, b"POST /post HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert post.startswith(b"HTTP/1.1 200 ") and post.endswith(b"hello POST /post\n")


async def test_keep_alive_serves_several_requests_on_one_connection(server: HttpServer) -> None:
    two = b"GET /hello HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\nConnection: close\r\n\r\n"
    got = await _exchange(server.port, two)
    assert got.count(b"HTTP/1.1 200 OK\r\n") == 2 and got.count(b"hello GET /hello\n") == 2


async def test_a_request_with_a_body_is_answered_then_the_connection_closed(server: HttpServer) -> None:
    got = await _exchange(
        server.port, b"GET /hello HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET /hello HTTP/1.1\r\n\r\n"
    )
    assert got.count(b"HTTP/1.1 200 OK\r\n") == 1 and b"Connection: close\r\n" in got


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /hello HTTP/1.1\r\nX: " + b"a" * HEAD_LIMIT + b"\r\n\r\n", b"431"),
        (b"GET /hello HTTP/1.1\r\n" + b"X: a\r\n" * 101 + b"\r\n", b"431"),
        (b"GET /hello HTTP/2.0\r\n\r\n", b"505"),
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /hello HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
    ],
)
async def test_bad_or_oversized_heads_are_refused_and_closed(
    server: HttpServer, raw: bytes, status: bytes
) -> None:
    got = await _exchange(server.port, raw)
    assert got.startswith(b"HTTP/1.1 " + status + b" "), got[:80]
    assert b"Connection: close\r\n" in got


async def test_stop_closes_idle_keep_alive_connections() -> None:
    srv = HttpServer(bind_socket("127.0.0.1", 0), {"/hello": _hello})
    await srv.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    writer.write(b"GET /hello HTTP/1.1\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(10):
        assert (await reader.readuntil(b"hello GET /hello\n")).startswith(b"HTTP/1.1 200")
        await srv.stop()
        assert await reader.read() == b""  # the server ended the idle connection
    writer.close()
