"""Several reload targets (``--reload-url`` repeated) in-process: real inotify, real HTTP on
127.0.0.1. A change is applied when every target answered 200; a failing target is retried on its
own, the healthy ones are not POSTed again; per-target metrics beside the Thanos aggregate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from test_reloader_support import start_reloader_fixture  # noqa: F401  (the start_reloader fixture)

from config_reloader.reconcile import ReloaderOptions
from config_reloader.reload.multi import MultiReload
from config_reloader.testing import RecordingEndpoint, atomic_replace, wait_until

Start = Callable[..., Any]


def contents(ep: RecordingEndpoint, path: Path) -> list[bytes | None]:
    return [r.contents.get(str(path)) for r in ep.successful]


async def test_failing_target_retried_alone_healthy_one_not_reposted(
    tmp_path: Path, start_reloader: Start
) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    healthy = RecordingEndpoint([str(cfg)])
    flaky = RecordingEndpoint([str(cfg)], fail=lambda n: n in (2, 3, 4))  # the change fails 3 times
    async with healthy, flaky:
        o = ReloaderOptions(
            config_file=str(cfg),
            reload_url=healthy.reload_url,
            extra_reload_urls=(flaky.reload_url + "?token=s3cret",),
            delay_interval=0.0,
            watch_interval=3600.0,
            retry_interval=0.05,
            reload_timeout=5.0,
        )
        run = await start_reloader(o)
        assert contents(healthy, cfg) == [b"v1"] and contents(flaky, cfg) == [b"v1"]
        atomic_replace(cfg, b"v2")
        await wait_until(lambda: contents(flaky, cfg) == [b"v1", b"v2"], timeout=20)
        await run.reloader.wait_applied(timeout=10)
        assert len(healthy.reloads) == 2  # one POST per content: never re-sent for flaky's sake
        assert [r.status for r in flaky.reloads] == [200, 500, 500, 500, 200]
        # Thanos' metrics are the aggregate: one attempt per round, failed while any target failed.
        assert run.metric("reloader_reloads_total") == 5
        assert run.metric("reloader_reloads_failed_total") == 3
        assert run.metric("reloader_last_reload_successful") == 1
        masked = flaky.reload_url + "?token=***"
        assert run.metric("reloader_target_reloads_total", {"target": healthy.reload_url}) == 2
        assert run.metric("reloader_target_reloads_total", {"target": masked}) == 5
        assert run.metric("reloader_target_reloads_failed_total", {"target": masked}) == 3
        assert run.metric("reloader_target_last_reload_successful", {"target": masked}) == 1
        # New content: every target reloads it again.
        atomic_replace(cfg, b"v3")
        await wait_until(
            lambda: contents(healthy, cfg)[-1:] == [b"v3"] and contents(flaky, cfg)[-1:] == [b"v3"],
            timeout=20,
        )


async def test_content_changing_while_a_target_fails_goes_to_every_target(
    tmp_path: Path, start_reloader: Start
) -> None:
    """The healthy target accepted v2, the other keeps failing; v3 arrives: both must get v3."""
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    down = {"flag": False}
    a = RecordingEndpoint([str(cfg)])
    b = RecordingEndpoint([str(cfg)], fail=lambda n: down["flag"])
    async with a, b:
        o = ReloaderOptions(
            config_file=str(cfg),
            reload_url=a.reload_url,
            extra_reload_urls=(b.reload_url,),
            delay_interval=0.0,
            watch_interval=3600.0,
            retry_interval=0.05,
            reload_timeout=5.0,
        )
        run = await start_reloader(o)
        down["flag"] = True
        atomic_replace(cfg, b"v2")
        await wait_until(lambda: contents(a, cfg)[-1:] == [b"v2"] and len(b.reloads) >= 3, timeout=20)
        down["flag"] = False
        atomic_replace(cfg, b"v3")
        await wait_until(
            lambda: contents(a, cfg)[-1:] == [b"v3"] and contents(b, cfg)[-1:] == [b"v3"], timeout=20
        )
        await run.reloader.wait_applied(timeout=10)


async def test_multi_reload_errors_name_each_failing_target() -> None:
    class Ok:
        method = "http"
        target = "a"

        async def trigger(self) -> None:
            pass

    class Bad(Ok):
        target = "b"

        async def trigger(self) -> None:
            from config_reloader.errors import ReloadRejected

            raise ReloadRejected("reload b: received non-200 response 500", target="b", status=500)

    seen: list[tuple[str, bool]] = []
    m = MultiReload([Ok(), Bad()], on_result=lambda t, ok: seen.append((t, ok)))
    try:
        await m.trigger()
    except Exception as exc:
        assert "1 of 2 reload targets failed (1 accepted): reload b: received non-200 response 500" in str(
            exc
        )
    else:
        raise AssertionError("no error")
    assert m.pending == ("b",)
    seen.clear()
    try:
        await m.trigger()
    except Exception:
        pass
    assert seen == [("b", False)]  # only the pending target was tried again
    m.new_round()
    assert m.pending == ("a", "b")
