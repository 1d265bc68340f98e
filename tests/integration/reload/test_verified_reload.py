"""VerifiedReload against RecordingEndpoint's runtime info, plain servers, and a real Prometheus."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO

import aiohttp
import childproc
import pytest
from aiohttp import web

from config_reloader.errors import ReloadError, ReloadRejected, ReloadTimeout, TargetNotFound, VerifyFailed
from config_reloader.recording import RecordingEndpoint
from config_reloader.reload.http import HttpReload
from config_reloader.reload.signal import SignalReload
from config_reloader.reload.verify import VerifiedReload, runtimeinfo_ready


class LateReload:
    """Stands in for a signal: the 'service' reloads a little later, in the background."""

    method = "signal"

    def __init__(self, url: str, after: float = 0.3) -> None:
        self.url, self.after = url, after
        self.tasks: list[asyncio.Task[None]] = []

    async def _post(self) -> None:
        await asyncio.sleep(self.after)
        async with aiohttp.ClientSession() as s, s.post(self.url) as r:
            await r.read()

    async def trigger(self) -> None:
        self.tasks.append(asyncio.create_task(self._post()))


class NoReload:
    method = "signal"

    async def trigger(self) -> None:
        return None


async def test_confirmed_when_last_config_time_moves() -> None:
    async with RecordingEndpoint() as ep:
        inner = LateReload(ep.reload_url, after=0.3)
        async with VerifiedReload(inner, runtimeinfo_url=ep.runtimeinfo_url, timeout=10) as v:
            assert v.method == "signal"
            await v.trigger()
        assert len(ep.successful) == 1
        assert (
            ep.runtimeinfo_requests >= 3
        )  # before, at least one poll that saw the old time, the confirmation


async def test_rejected_config_fails_fast() -> None:
    async with RecordingEndpoint(validator=lambda contents: False) as ep:
        inner = LateReload(ep.reload_url, after=0.1)
        v = VerifiedReload(inner, runtimeinfo_url=ep.runtimeinfo_url, timeout=30)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(VerifyFailed, match="reloadConfigSuccess=false"):
            await v.trigger()
        assert loop.time() - start < 20  # did not wait for the deadline
        await v.aclose()


async def test_nothing_happens_is_timeout() -> None:
    async with RecordingEndpoint() as ep:
        v = VerifiedReload(NoReload(), runtimeinfo_url=ep.runtimeinfo_url, timeout=0.5)
        with pytest.raises(ReloadTimeout, match="lastConfigTime"):
            await v.trigger()
        await v.aclose()


async def test_still_failing_after_previous_failure_is_verify_failed_at_deadline() -> None:
    async with RecordingEndpoint(validator=lambda contents: False) as ep:
        async with aiohttp.ClientSession() as s, s.post(ep.reload_url) as r:
            assert r.status == 500  # the service is already in the failed state
        v = VerifiedReload(LateReload(ep.reload_url, 0.05), runtimeinfo_url=ep.runtimeinfo_url, timeout=0.8)
        with pytest.raises(VerifyFailed, match="still false"):
            await v.trigger()
        await v.aclose()


async def test_recovery_from_failed_state_is_confirmed() -> None:
    good = {"ok": False}
    async with RecordingEndpoint(validator=lambda contents: good["ok"]) as ep:
        async with aiohttp.ClientSession() as s, s.post(ep.reload_url) as r:
            assert r.status == 500
        good["ok"] = True  # the rollback case: the fixed config must be confirmed
        async with VerifiedReload(
            LateReload(ep.reload_url, 0.1), runtimeinfo_url=ep.runtimeinfo_url, timeout=10
        ) as v:
            await v.trigger()


async def test_runtimeinfo_down_is_target_not_found_and_inner_not_triggered() -> None:
    async with RecordingEndpoint() as ep:
        await ep.down()
        inner = LateReload(ep.reload_url)
        v = VerifiedReload(inner, runtimeinfo_url=ep.runtimeinfo_url, timeout=5)
        with pytest.raises(TargetNotFound):
            await v.trigger()
        assert inner.tasks == []
        await v.aclose()


@pytest.fixture
async def json_server() -> AsyncIterator[Callable[[int, str], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(status: int, body: str) -> str:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=status, text=body, content_type="application/json")

        app = web.Application()
        app.router.add_get("/api/v1/status/runtimeinfo", handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/status/runtimeinfo"

    yield start
    for r in runners:
        await r.cleanup()


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (200, "not json", ReloadError, "unexpected answer"),
        (200, '{"status": "error", "data": {}}', ReloadError, "not 'success'"),
        (200, '{"status": "success", "data": {"reloadConfigSuccess": true}}', ReloadError, "lastConfigTime"),
        (
            200,
            '{"status":"success","data":{"reloadConfigSuccess":true,"lastConfigTime":"soon"}}',
            ReloadError,
            "RFC",
        ),
        (503, "Service Unavailable", ReloadRejected, "503"),
    ],
)
async def test_bad_runtimeinfo_answers(
    json_server: Callable[[int, str], Awaitable[str]],
    status: int,
    body: str,
    error: type[Exception],
    match: str,
) -> None:
    url = await json_server(status, body)
    v = VerifiedReload(NoReload(), runtimeinfo_url=url, timeout=5)
    with pytest.raises(error, match=match):
        await v.trigger()
    await v.aclose()


async def test_runtimeinfo_ready_gate() -> None:
    async with RecordingEndpoint() as ep:
        check = runtimeinfo_ready(ep.runtimeinfo_url, timeout=2)
        assert await check() is True
        await ep.down()
        assert await check() is False
        await ep.up()
        assert await check() is True
        await check.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_log(path: Path) -> IO[bytes]:
    return open(path, "wb")  # the test closes it in its finally


def write_atomic(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package prometheus not installed")
async def test_real_prometheus_sighup_verified(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    write_atomic(cfg, "global:\n  scrape_interval: 15s\n")
    port = free_port()
    log = open_log(tmp_path / "prometheus.log")
    proc = await childproc.exec_async(
        "prometheus",
        f"--config.file={cfg}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api/v1/status/runtimeinfo"
    ready = runtimeinfo_ready(url, timeout=2)
    action = VerifiedReload(
        SignalReload(signal=signal.SIGHUP, target=lambda: proc.pid, timeout=10, ready=ready),
        runtimeinfo_url=url,
        timeout=20,
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not await ready():
            assert proc.returncode is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert loop.time() < deadline, "prometheus did not come up"
            await asyncio.sleep(0.1)
        # started without --web.enable-lifecycle: the HTTP reload is refused with a hint
        async with HttpReload(f"http://127.0.0.1:{port}/-/reload", timeout=10) as http:
            with pytest.raises(ReloadRejected, match=r"--web\.enable-lifecycle") as err:
                await http.trigger()
        assert err.value.status in (403, 405)
        write_atomic(cfg, "global:\n  scrape_interval: 10s\n")
        await action.trigger()  # confirmed: reloadConfigSuccess true and lastConfigTime moved
        write_atomic(cfg, "global:\n  scrape_interval: [not a duration\n")
        with pytest.raises(VerifyFailed):
            await action.trigger()
        assert proc.returncode is None
    finally:
        await action.aclose()
        await ready.aclose()
        if proc.returncode is None:
            proc.terminate()
        try:
            async with asyncio.timeout(15):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()


async def test_second_resolution_last_config_time_waits_for_next_second() -> None:
    """Prometheus reports lastConfigTime in whole seconds; a reload in the same second as the
    previous load must still be confirmed (the trigger waits for the next second)."""
    state = {"loaded_at": time.time_ns() // 10**9}  # the previous load: this very second

    async def handler(request: web.Request) -> web.Response:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state["loaded_at"]))
        return web.json_response(
            {"status": "success", "data": {"reloadConfigSuccess": True, "lastConfigTime": when}}
        )

    app = web.Application()
    app.router.add_get("/api/v1/status/runtimeinfo", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/status/runtimeinfo"
    triggered_at: list[int] = []

    class InstantReload:
        method = "signal"

        async def trigger(self) -> None:
            triggered_at.append(time.time_ns())
            state["loaded_at"] = time.time_ns() // 10**9  # whole seconds, like Prometheus

    try:
        before = state["loaded_at"]
        async with VerifiedReload(InstantReload(), runtimeinfo_url=url, timeout=10) as v:
            await v.trigger()
        assert triggered_at[0] >= (before + 1) * 10**9
    finally:
        await runner.cleanup()
