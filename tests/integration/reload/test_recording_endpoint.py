"""RecordingEndpoint itself: what it records and how it can be programmed."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from config_reloader.recording import RecordingEndpoint, read_paths
from config_reloader.reload.verify import parse_rfc3339_ns


async def post(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.post(url) as r:
        return r.status, await r.text()


async def runtimeinfo(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        body = await r.json()
    assert body["status"] == "success"
    data: dict[str, object] = body["data"]
    return data


async def test_fail_callback_gets_one_based_request_number() -> None:
    seen: list[int] = []

    def fail(n: int) -> bool:
        seen.append(n)
        return n == 2

    async with RecordingEndpoint(fail=fail) as ep:
        statuses = [(await post(ep.reload_url))[0] for _ in range(3)]
    assert seen == [1, 2, 3]
    assert statuses == [200, 500, 200]
    assert [r.n for r in ep.successful] == [1, 3]
    assert ep.reloads[0].at <= ep.reloads[1].at <= ep.reloads[2].at


async def test_runtimeinfo_follows_reloads() -> None:
    ok = {"v": True}
    async with RecordingEndpoint(validator=lambda c: ok["v"]) as ep:
        first = await runtimeinfo(ep.runtimeinfo_url)
        assert first["reloadConfigSuccess"] is True
        t0 = parse_rfc3339_ns(str(first["lastConfigTime"]))
        await post(ep.reload_url)
        second = await runtimeinfo(ep.runtimeinfo_url)
        t1 = parse_rfc3339_ns(str(second["lastConfigTime"]))
        assert t1 > t0 and second["reloadConfigSuccess"] is True
        ok["v"] = False
        status, text = await post(ep.reload_url)
        assert (status, "rejected" in text) == (500, True)
        third = await runtimeinfo(ep.runtimeinfo_url)
        assert third["reloadConfigSuccess"] is False
        assert parse_rfc3339_ns(str(third["lastConfigTime"])) == t1  # only successes move it


async def test_validator_sees_the_contents(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yml"
    cfg.write_bytes(b"good")
    async with RecordingEndpoint([str(cfg)], validator=lambda c: c.get(str(cfg)) == b"good") as ep:
        assert (await post(ep.reload_url))[0] == 200
        os.remove(cfg)  # a missing file is absent from contents
        assert (await post(ep.reload_url))[0] == 500
    assert ep.reloads[1].contents == {}


async def test_down_refuses_and_up_reuses_port() -> None:
    async with RecordingEndpoint() as ep, aiohttp.ClientSession() as keepalive:
        port = ep.port
        async with keepalive.post(ep.reload_url) as r:
            assert r.status == 200
        await ep.down()
        with pytest.raises(aiohttp.ClientConnectorError):
            await post(ep.reload_url)
        with pytest.raises(aiohttp.ClientError):  # the pooled connection is gone too
            async with keepalive.post(ep.reload_url) as r:
                await r.read()
        await ep.up()
        assert ep.port == port
        assert (await post(ep.reload_url))[0] == 200


async def test_wait_for_times_out_with_what_it_saw() -> None:
    async with RecordingEndpoint(fail=lambda n: True) as ep:
        await post(ep.reload_url)
        with pytest.raises(TimeoutError, match=r"\(1, 500\)"):
            await ep.wait_for(lambda: len(ep.successful) == 1, timeout=0.2)


async def test_ready_and_healthy_endpoints() -> None:
    async with RecordingEndpoint(ready=False) as ep, aiohttp.ClientSession() as s:
        async with s.get(ep.ready_url) as r:
            assert r.status == 503
        async with s.get(ep.url + "/-/healthy") as r:
            assert r.status == 200
        ep.ready = True
        async with s.get(ep.ready_url) as r:
            assert r.status == 200


def test_read_paths_skips_a_symlink_loop_like_a_dangling_link(tmp_path: Path) -> None:
    """What a service sees in a dir holding ``loop -> loop`` and ``gone -> nowhere``: neither."""
    (tmp_path / "a.yml").write_bytes(b"a")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "gone").symlink_to("nowhere")
    assert read_paths([str(tmp_path)]) == {str(tmp_path / "a.yml"): b"a"}
