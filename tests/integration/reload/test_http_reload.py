"""HttpReload over real HTTP on loopback: RecordingEndpoint and plain aiohttp servers."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from config_reloader.errors import ReloadError, ReloadRejected, ReloadTimeout, TargetNotFound
from config_reloader.recording import RecordingEndpoint
from config_reloader.reload import ReloadAction
from config_reloader.reload.http import HttpReload

ServerFactory = Callable[
    [dict[tuple[str, str], Callable[[web.Request], Awaitable[web.StreamResponse]]]], Awaitable[str]
]


def atomic_replace(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def test_success_records_what_the_service_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = str(tmp_path / "prometheus.yml")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "..2026_11_29").mkdir()  # kubelet internals: skipped
    (rules / "..data").symlink_to("..2026_11_29")
    (rules / "..2026_11_29" / "a.yml").write_bytes(b"groups: []\n")
    (rules / "a.yml").symlink_to("..data/a.yml")  # followed
    (rules / "sub").mkdir()  # subdirectory: not read
    atomic_replace(cfg, b"global: {}\n")
    async with RecordingEndpoint([cfg, str(rules)]) as ep, HttpReload(ep.reload_url, timeout=5) as action:
        assert isinstance(action, ReloadAction)
        assert action.method == "http"
        await action.trigger()
        atomic_replace(cfg, b"global: {scrape_interval: 5s}\n")
        await action.trigger()  # one session reused
        await ep.wait_for(lambda: len(ep.successful) == 2, timeout=10)
    first, second = ep.reloads
    assert first.contents == {cfg: b"global: {}\n", str(rules / "a.yml"): b"groups: []\n"}
    assert second.contents[cfg] == b"global: {scrape_interval: 5s}\n"
    assert (first.n, second.n) == (1, 2)


async def test_500_is_rejected_with_status_and_body() -> None:
    async with RecordingEndpoint(fail=lambda n: n % 2 == 0) as ep, HttpReload(ep.reload_url, timeout=5) as a:
        await a.trigger()
        with pytest.raises(ReloadRejected) as err:
            await a.trigger()
        await a.trigger()
    assert err.value.status == 500
    assert "injected failure" in err.value.body
    assert "500" in str(err.value)
    assert "web.enable-lifecycle" not in str(err.value)
    assert [r.status for r in ep.reloads] == [200, 500, 200]


async def test_403_hints_enable_lifecycle() -> None:
    async with RecordingEndpoint(lifecycle=False) as ep, HttpReload(ep.reload_url, timeout=5) as a:
        with pytest.raises(ReloadRejected) as err:
            await a.trigger()
    assert err.value.status == 403
    assert "--web.enable-lifecycle" in str(err.value)
    assert "Lifecycle API is not enabled" in err.value.body


@pytest.mark.parametrize("status", [404, 405, 201, 204, 302])
async def test_only_exactly_200_is_success(http_server: ServerFactory, status: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "/elsewhere"} if status == 302 else None)

    base = await http_server({("POST", "/-/reload"): handler})
    async with HttpReload(base + "/-/reload", timeout=5) as a:
        with pytest.raises(ReloadRejected) as err:
            await a.trigger()
    assert err.value.status == status
    assert ("--web.enable-lifecycle" in str(err.value)) == (status == 405)
    assert ("check the reload URL's path" in str(err.value)) == (status in (404, 405))


async def test_404_hints_the_path_not_lifecycle(http_server: ServerFactory) -> None:
    """A wrong path (here /reload for /-/reload) answers 404: the hint is the path and the route
    prefix; lifecycle is what a 403 means."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found")

    base = await http_server({("POST", "/reload"): handler})
    async with HttpReload(base + "/reload", timeout=5) as a:
        with pytest.raises(ReloadRejected) as err:
            await a.trigger()
    message = str(err.value)
    assert "404 Not Found: 404 page not found; nothing is served at this path" in message
    assert "--web.route-prefix" in message
    assert "enable-lifecycle" not in message


async def test_connection_refused_is_target_not_found() -> None:
    async with RecordingEndpoint() as ep, HttpReload(ep.reload_url, timeout=5) as a:
        await ep.down()
        with pytest.raises(TargetNotFound, match="connection refused"):
            await a.trigger()
        await ep.up()  # same port again: the same action recovers
        await a.trigger()
    assert len(ep.successful) == 1


async def test_slow_target_times_out() -> None:
    async with RecordingEndpoint(delay=3.0) as ep, HttpReload(ep.reload_url, timeout=0.3) as a:
        with pytest.raises(ReloadTimeout, match=r"0\.3s"):
            await a.trigger()
    # the target did receive it: a timeout is "slow", not "failed"
    assert len(ep.reloads) == 1


async def test_unresponsive_listener_times_out() -> None:
    # Listening socket that never accepts: the connect completes (backlog) but no answer comes.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        async with HttpReload(f"http://127.0.0.1:{port}/-/reload", timeout=0.3) as a:
            with pytest.raises(ReloadTimeout):
                await a.trigger()


async def test_basic_auth_sent_and_credentials_never_in_errors(http_server: ServerFactory) -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(status=500, text="bad config")

    base = await http_server({("POST", "/-/reload"): handler})
    url = base.replace("http://", "http://admin:s%40cret@") + "/-/reload"
    async with HttpReload(url, timeout=5) as a:
        assert "s%40cret" not in repr(a) and "admin" not in a.target
        with pytest.raises(ReloadRejected) as err:
            await a.trigger()
    expected = "Basic " + base64.b64encode(b"admin:s@cret").decode()
    assert seen == [expected]
    for text in (str(err.value), err.value.target):
        assert "cret" not in text and "admin" not in text
        assert "***@127.0.0.1" in text


async def test_credentials_redacted_when_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        async with HttpReload(f"http://u:topsecret@127.0.0.1:{port}/-/reload", timeout=5) as a:
            with pytest.raises(TargetNotFound) as err:
                await a.trigger()
    assert "topsecret" not in str(err.value)
    assert "topsecret" not in err.value.target


async def test_one_new_connection_per_trigger(http_server: ServerFactory) -> None:
    peers: list[object] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.Response()

    base = await http_server({("POST", "/-/reload"): handler})
    async with HttpReload(base + "/-/reload", timeout=5) as a:
        for _ in range(3):
            await a.trigger()
        await a.aclose()
        await a.trigger()  # aclose is idempotent and does not end the action
    assert len(peers) == 4
    assert len(set(peers)) == 4  # no keep-alive: every reload from a fresh client port


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        (b"HTTP/1.0 200 OK\r\n\r\n", True),  # HTTP/1.0, body ends at close (python http.server)
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.0 500 Internal Server Error\r\n\r\nbroken rules", False),
    ],
)
async def test_server_closing_the_connection(answer: bytes, ok: bool) -> None:
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with HttpReload(f"http://127.0.0.1:{port}/-/reload", timeout=5) as a:
            if ok:
                await a.trigger()
            else:
                with pytest.raises(ReloadRejected) as err:
                    await a.trigger()
                assert (err.value.status, err.value.body) == (500, "broken rules")
    finally:
        server.close()
        await server.wait_closed()
    assert len(requests) == 1 and requests[0].startswith(b"POST /-/reload HTTP/1.1\r\n")


async def test_cancellation_propagates() -> None:
    async with RecordingEndpoint(delay=5.0) as ep, HttpReload(ep.reload_url, timeout=30) as a:
        task = asyncio.create_task(a.trigger())
        await ep.wait_for(lambda: len(ep.reloads) == 1, timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_server_disconnect_is_reload_error(http_server: ServerFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.1)
        return web.Response()

    base = await http_server({("POST", "/-/reload"): handler})
    async with HttpReload(base + "/-/reload", timeout=5) as a:
        with pytest.raises(ReloadError) as err:
            await a.trigger()
    assert not isinstance(err.value, ReloadRejected | ReloadTimeout)


@pytest.mark.parametrize("url", ["ftp://x/-/reload", "/-/reload", "http:///x"])
def test_bad_url_is_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        HttpReload(url, timeout=1)
