"""The Reloader end to end in-process: real inotify, real HTTP (RecordingEndpoint on 127.0.0.1).

Assertions are on reloads and the content each reload saw (the endpoint reads the files at the
moment of the POST, as Prometheus would), never on event counts.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import childproc
import pytest
from test_reloader_support import start_reloader_fixture  # noqa: F401  (the start_reloader fixture)

from config_reloader.reconcile import ReloaderOptions, guard
from config_reloader.reload.http import HttpReload
from config_reloader.reload.retry import RetryPolicy
from config_reloader.testing import (
    KubeletAtomicWriter,
    RecordingEndpoint,
    atomic_replace,
    wait_until,
    write_in_place,
)
from config_reloader.watch.inotify import IN_Q_OVERFLOW, Inotify, InotifyEvent
from config_reloader.watch.watcher import ChangeSource

Start = Callable[..., Any]


def opts(ep: RecordingEndpoint, **kw: Any) -> ReloaderOptions:
    kw.setdefault("delay_interval", 0.0)
    kw.setdefault("watch_interval", 3600.0)
    kw.setdefault("reload_timeout", 5.0)
    return ReloaderOptions(reload_url=ep.reload_url, **kw)


def seen(ep: RecordingEndpoint, path: Path | str) -> list[bytes | None]:
    """Content of ``path`` as seen by each successful reload."""
    return [r.contents.get(str(path)) for r in ep.successful]


async def test_config_replaced_by_rename_again_and_again(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v0")
    async with RecordingEndpoint([str(cfg)]) as ep:
        run = await start_reloader(opts(ep, config_file=str(cfg)))
        assert seen(ep, cfg) == [b"v0"]
        for i in range(1, 6):
            atomic_replace(cfg, f"v{i}".encode())
            await ep.wait_for(lambda i=i: seen(ep, cfg)[-1:] == [f"v{i}".encode()], timeout=10)
        assert seen(ep, cfg) == [b"v0", b"v1", b"v2", b"v3", b"v4", b"v5"]
        await run.reloader.wait_applied(timeout=10)
        assert run.metric("reloader_reloads_total") == 6
        assert run.metric("reloader_watch_mode", {"mode": "inotify"}) == 1
        assert run.metric("reloader_watch_events_total") >= 5  # raw events counted (never an exact number)
        assert run.metric("reloader_watches") >= 1


async def test_kubelet_atomic_writer_on_watched_dir_holding_config(
    tmp_path: Path, start_reloader: Start
) -> None:
    vol = tmp_path / "config"
    kw = KubeletAtomicWriter(vol)
    kw.write({"prometheus.yml": b"global: {}\n", "rules.yml": b"groups: []\n"})
    cfg = vol / "prometheus.yml"
    async with RecordingEndpoint([str(vol)]) as ep:
        run = await start_reloader(opts(ep, config_file=str(cfg), watched_dirs=(str(vol),)))
        assert len(ep.successful) == 1
        for i in range(3):
            assert kw.write(
                {"prometheus.yml": f"global: {{}} # {i}\n".encode(), "rules.yml": b"groups: []\n"}
            )
            await ep.wait_for(lambda i=i: seen(ep, cfg)[-1] == f"global: {{}} # {i}\n".encode(), timeout=10)
            assert len(ep.successful) == 2 + i  # one reload per update
        # byte-identical update: kubelet writes nothing; a rescan finds nothing new
        applies = run.metric("reloader_config_apply_operations_total")
        assert not kw.write({"prometheus.yml": b"global: {} # 2\n", "rules.yml": b"groups: []\n"})
        os.utime(cfg, follow_symlinks=False)  # IN_ATTRIB on the user-visible link: an apply pass
        await wait_until(lambda: run.metric("reloader_config_apply_operations_total") > applies, timeout=10)
        # key added
        kw.write({"prometheus.yml": b"global: {} # 2\n", "rules.yml": b"groups: []\n", "extra.yml": b"x"})
        await ep.wait_for(lambda: ep.successful[-1].contents.get(str(vol / "extra.yml")) == b"x", timeout=10)
        assert len(ep.successful) == 5
        # key removed
        kw.write({"prometheus.yml": b"global: {} # 2\n", "rules.yml": b"groups: []\n"})
        await ep.wait_for(lambda: len(ep.successful) == 6, timeout=10)
        assert str(vol / "extra.yml") not in ep.successful[-1].contents
        assert all(r.status == 200 for r in ep.reloads)


async def test_in_place_write_reloaded_after_close_never_partial(
    tmp_path: Path, start_reloader: Start
) -> None:
    cfg = tmp_path / "prometheus.yml"
    full = b"".join(b"line %03d of a long config\n" % i for i in range(200))
    atomic_replace(cfg, full)
    async with RecordingEndpoint([str(cfg)]) as ep:
        await start_reloader(opts(ep, config_file=str(cfg), delay_interval=0.0))
        for n in range(3):
            new = full.replace(b"line 199", b"line %03d" % (500 + n))
            # truncate, then 4 chunks 50 ms apart: empty and partial states exist for ~200 ms
            await asyncio.to_thread(write_in_place, cfg, new, chunks=4, pause=0.05)
            await ep.wait_for(lambda new=new: seen(ep, cfg)[-1] == new, timeout=10)
        for r in ep.reloads:
            assert r.contents.get(str(cfg)) in (
                full,
                *(full.replace(b"line 199", b"line %03d" % (500 + n)) for n in range(3)),
            )


@pytest.mark.parametrize("writer", ["atomic", "kubelet", "in_place_closed"])
async def test_finished_writes_are_reloaded_without_the_race_recheck(
    tmp_path: Path, start_reloader: Start, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    """A file renamed in, a file closed by its writer, and a kubelet ``..data`` swap are read as
    their writer left them: no wait for a lagging event before the reload. The recheck is made an
    hour long once running, so a reload within the deadline shows it was skipped."""
    d = tmp_path / "rules"
    d.mkdir()
    kw = KubeletAtomicWriter(d) if writer == "kubelet" else None
    path = d / "r.yml"

    def put(data: bytes) -> None:
        if kw is not None:
            assert kw.write({"r.yml": data})
        elif writer == "atomic":
            atomic_replace(path, data)
        else:
            write_in_place(path, data, chunks=2, pause=0.0)

    put(b"v0")
    async with RecordingEndpoint([str(path)]) as ep:
        run = await start_reloader(opts(ep, watched_dirs=(str(d),)))
        monkeypatch.setattr(guard, "RACE_RECHECK", 3600.0)
        for i in range(1, 4):
            await asyncio.to_thread(put, f"v{i}".encode())
            await ep.wait_for(lambda i=i: seen(ep, path)[-1:] == [f"v{i}".encode()], timeout=10)
            # the reload has arrived; let it finish before the next change, so that change is
            # not one seen while a reload was in flight (that asks for a rescan, which waits)
            await wait_until(lambda: run.reloader.applied == run.reloader.desired, timeout=10)
        assert seen(ep, path) == [b"v0", b"v1", b"v2", b"v3"]


async def test_watched_dir_deleted_and_recreated(tmp_path: Path, start_reloader: Start) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    atomic_replace(rules / "a.yml", b"a1")
    async with RecordingEndpoint([str(rules)]) as ep:
        await start_reloader(opts(ep, watched_dirs=(str(rules),)))
        assert seen(ep, rules / "a.yml") == [b"a1"]
        for f in rules.iterdir():
            f.unlink()
        rules.rmdir()
        await ep.wait_for(lambda: seen(ep, rules / "a.yml")[-1] is None, timeout=10)
        rules.mkdir()
        atomic_replace(rules / "a.yml", b"a2")
        await ep.wait_for(lambda: seen(ep, rules / "a.yml")[-1] == b"a2", timeout=10)
        atomic_replace(rules / "a.yml", b"a3")  # the re-armed watch keeps working
        await ep.wait_for(lambda: seen(ep, rules / "a.yml")[-1] == b"a3", timeout=10)


async def test_config_file_deleted_then_recreated_later(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    async with RecordingEndpoint([str(cfg)]) as ep:
        run = await start_reloader(opts(ep, config_file=str(cfg)))
        cfg.unlink()
        await wait_until(lambda: run.metric("reloader_config_apply_operations_failed_total") >= 1, timeout=10)
        assert len(ep.reloads) == 1  # never reloaded a missing config
        atomic_replace(cfg, b"v2")
        await ep.wait_for(lambda: seen(ep, cfg) == [b"v1", b"v2"], timeout=10)


async def test_watched_symlink_whose_target_is_swapped(tmp_path: Path, start_reloader: Start) -> None:
    d1, d2 = tmp_path / "rules-1", tmp_path / "rules-2"
    d1.mkdir()
    d2.mkdir()
    atomic_replace(d1 / "r.yml", b"one")
    atomic_replace(d2 / "r.yml", b"two")
    link = tmp_path / "rules"
    link.symlink_to(d1.name)
    async with RecordingEndpoint([str(link)]) as ep:
        await start_reloader(opts(ep, watched_dirs=(str(link),)))
        assert seen(ep, link / "r.yml") == [b"one"]
        atomic_replace(d1 / "r.yml", b"one-b")  # content change through the link
        await ep.wait_for(lambda: seen(ep, link / "r.yml")[-1] == b"one-b", timeout=10)
        tmp_link = tmp_path / "rules.tmp"
        tmp_link.symlink_to(d2.name)
        os.rename(tmp_link, link)  # atomic swap of the link
        await ep.wait_for(lambda: seen(ep, link / "r.yml")[-1] == b"two", timeout=10)
        atomic_replace(d2 / "r.yml", b"two-b")  # the new target is watched
        await ep.wait_for(lambda: seen(ep, link / "r.yml")[-1] == b"two-b", timeout=10)


class OverflowingInotify(Inotify):
    """The real inotify, except that while ``overflow`` is set the queue "overflows": pending
    events are dropped and a single IN_Q_OVERFLOW is delivered, as the kernel does."""

    overflow = False

    def read_events(self) -> list[InotifyEvent]:
        events = super().read_events()
        if events and OverflowingInotify.overflow:
            OverflowingInotify.overflow = False
            return [InotifyEvent(wd=-1, mask=IN_Q_OVERFLOW, cookie=0, name="")]
        return events


async def test_overflow_rescans_and_reloads_final_content(tmp_path: Path, start_reloader: Start) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    atomic_replace(rules / "a.yml", b"a0")

    def factory(files: Any, dirs: Any, **kw: Any) -> ChangeSource:
        return ChangeSource(files, dirs, inotify_factory=OverflowingInotify, **kw)

    async with RecordingEndpoint([str(rules)]) as ep:
        run = await start_reloader(opts(ep, watched_dirs=(str(rules),)), change_source_factory=factory)
        OverflowingInotify.overflow = True
        for i in range(20):
            atomic_replace(rules / f"b{i}.yml", b"b")
        atomic_replace(rules / "a.yml", b"a-final")
        await ep.wait_for(lambda: seen(ep, rules / "a.yml")[-1] == b"a-final", timeout=10)
        assert ep.successful[-1].contents.get(str(rules / "b19.yml")) == b"b"
        assert run.metric("reloader_watch_overflows_total") >= 1


async def test_target_down_at_start_retried_until_up_then_one_reload(
    tmp_path: Path, start_reloader: Start
) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    ep = RecordingEndpoint([str(cfg)])
    await ep.start()
    await ep.down()
    try:
        run = await start_reloader(opts(ep, config_file=str(cfg)), wait_ready=False)
        await wait_until(lambda: run.metric("reloader_reloads_failed_total") >= 2, timeout=10)
        assert not run.reloader.ready
        atomic_replace(cfg, b"v2")  # newest content while the target is down
        await wait_until(
            lambda: (
                run.reloader.desired != run.reloader.applied
                and run.metric("reloader_config_apply_operations_total") >= 1  # initial pass not counted
            ),
            timeout=10,
        )
        await ep.up()
        await ep.wait_for(lambda: len(ep.successful) == 1, timeout=10)
        await run.reloader.wait_applied(timeout=10)
        assert seen(ep, cfg) == [b"v2"]
        assert run.reloader.ready
        assert run.metric("reloader_last_reload_successful") == 1
        failed = run.metric("reloader_reloads_failed_total")
        assert run.metric("reloader_reloads_total") == failed + 1
    finally:
        await ep.stop()


async def test_change_during_retries_supersedes(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    accept = {"on": False}
    async with RecordingEndpoint([str(cfg)], fail=lambda n: not accept["on"]) as ep:
        # long backoff: only a new desired digest can cut it short
        run = await start_reloader(
            opts(ep, config_file=str(cfg)),
            wait_ready=False,
            retry=RetryPolicy(initial=20.0, maximum=60.0, jitter=0.0),
        )
        await ep.wait_for(lambda: len(ep.reloads) == 1, timeout=10)
        accept["on"] = True
        atomic_replace(cfg, b"v2")
        await ep.wait_for(lambda: len(ep.successful) == 1, timeout=8)  # well before the 20 s backoff
        assert seen(ep, cfg) == [b"v2"]
        await run.reloader.wait_applied(timeout=5)


async def test_slow_target_is_not_hammered(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v0")
    async with RecordingEndpoint([str(cfg)]) as ep:
        run = await start_reloader(opts(ep, config_file=str(cfg)))
        ep.delay = 1.0  # each reload now takes a second
        for i in range(1, 11):
            atomic_replace(cfg, f"v{i}".encode())
            await asyncio.sleep(0.05)  # a burst of changes, 50 ms apart, while the target is busy
        await ep.wait_for(lambda: seen(ep, cfg)[-1] == b"v10", timeout=15)
        await run.reloader.wait_applied(timeout=10)
        # 1 initial + at most: one in flight when the burst started, one per completed reload
        assert len(ep.reloads) <= 4, [(r.n, r.contents.get(str(cfg))) for r in ep.reloads]
        # timeouts back off instead of re-sending at once
        ep.delay = 2.0
    async with RecordingEndpoint([str(cfg)], delay=2.0) as slow:
        run2 = await start_reloader(
            opts(slow, config_file=str(cfg), reload_timeout=0.3),
            wait_ready=False,
            retry=RetryPolicy(initial=0.3, maximum=5.0, jitter=0.0),
        )
        await wait_until(lambda: run2.metric("reloader_reloads_failed_total") >= 1, timeout=10)
        await asyncio.sleep(1.5)  # observation window (counting requests, not waiting for a condition)
        n = len(slow.reloads)
        assert n <= 4, n  # attempts at ~0, 0.6, 1.5 s; a fixed 0.3 s retry would give ~5
        await run2.stop()


async def test_rejected_then_reverted_content_is_reloaded(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"good")

    def valid(contents: Any) -> bool:
        return bool(contents.get(str(cfg)) != b"bad")

    async with RecordingEndpoint([str(cfg)], validator=valid) as ep:
        run = await start_reloader(opts(ep, config_file=str(cfg)))
        good = run.reloader.applied
        atomic_replace(cfg, b"bad")
        await ep.wait_for(lambda: sum(r.status == 500 for r in ep.reloads) >= 2, timeout=10)
        atomic_replace(cfg, b"good")  # rollback to the applied digest
        await ep.wait_for(lambda: len(ep.successful) == 2, timeout=10)
        assert seen(ep, cfg) == [b"good", b"good"]
        await run.reloader.wait_applied(good, timeout=10)
        assert run.metric("reloader_last_reload_successful") == 1


async def test_touch_chmod_identical_rewrite_do_not_reload(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"same")
    async with RecordingEndpoint([str(cfg)]) as ep:
        run = await start_reloader(opts(ep, config_file=str(cfg)))
        for action in (
            lambda: os.utime(cfg),
            lambda: os.chmod(cfg, 0o600),
            lambda: atomic_replace(cfg, b"same"),
        ):
            before = run.metric("reloader_config_apply_operations_total")
            action()
            await wait_until(
                lambda b=before: run.metric("reloader_config_apply_operations_total") > b, timeout=10
            )
        atomic_replace(cfg, b"different")  # then a real change still reloads: the loop is alive
        await ep.wait_for(lambda: len(ep.successful) == 2, timeout=10)
        assert seen(ep, cfg) == [b"same", b"different"]


async def test_envsubst_gzip_and_output_mode_kept(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "prometheus.yml.gz"
    out = tmp_path / "out" / "prometheus.env.yml"
    out.parent.mkdir()
    atomic_replace(
        cfg, gzip.compress(b"cluster: $(CLUSTER)\nreplica: $(STATEFULSET_ORDINAL_NUMBER)\n$(NOPE)\n")
    )
    atomic_replace(out, b"old", mode=0o640)
    async with RecordingEndpoint([str(out)]) as ep:
        run = await start_reloader(
            opts(ep, config_file=str(cfg), config_envsubst_file=str(out)),
            env={"CLUSTER": "eu1", "POD_NAME": "prometheus-k8s-1"},
        )
        assert seen(ep, out) == [b"cluster: eu1\nreplica: 1\n$(NOPE)\n"]
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
        assert run.metric("reloader_config_environment_variable_expansion_errors") == 1
        atomic_replace(cfg, gzip.compress(b"cluster: $(CLUSTER)-b\n"))
        await ep.wait_for(lambda: seen(ep, out)[-1] == b"cluster: eu1-b\n", timeout=10)
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
        assert run.metric("reloader_config_environment_variable_expansion_errors") == 0
        assert not [p for p in os.listdir(out.parent) if p != out.name]  # no temp files left


async def test_strict_env_keeps_output_and_sends_no_reload(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "in.yml"
    out = tmp_path / "out.yml"
    atomic_replace(cfg, b"a: $(A)\n")
    async with RecordingEndpoint([str(out)]) as ep:
        run = await start_reloader(
            opts(ep, config_file=str(cfg), config_envsubst_file=str(out), strict_env=True), env={"A": "1"}
        )
        atomic_replace(cfg, b"a: $(A)\nb: $(MISSING)\n")
        await wait_until(lambda: run.metric("reloader_config_apply_operations_failed_total") >= 1, timeout=10)
        assert out.read_bytes() == b"a: 1\n"
        assert len(ep.reloads) == 1
        assert run.metric("reloader_config_environment_variable_expansion_errors") == 1


async def test_validate_command_failure_keeps_output_and_sends_no_reload(
    tmp_path: Path, start_reloader: Start
) -> None:
    cfg = tmp_path / "in.yml"
    out = tmp_path / "out.yml"
    atomic_replace(cfg, b"ok: 1\n")
    validate = ("grep", "-q", "^ok:", "{}")
    async with RecordingEndpoint([str(out)]) as ep:
        run = await start_reloader(
            opts(ep, config_file=str(cfg), config_envsubst_file=str(out), validate_command=validate)
        )
        assert seen(ep, out) == [b"ok: 1\n"]
        atomic_replace(cfg, b"broken: 1\n")
        await wait_until(lambda: run.metric("reloader_config_validation_failures_total") >= 1, timeout=10)
        assert out.read_bytes() == b"ok: 1\n"
        assert len(ep.reloads) == 1
        atomic_replace(cfg, b"ok: 2\n")
        await ep.wait_for(lambda: seen(ep, out)[-1] == b"ok: 2\n", timeout=10)
        assert not [p for p in os.listdir(tmp_path) if p not in ("in.yml", "out.yml")]


async def test_validate_command_output_is_logged(
    tmp_path: Path, start_reloader: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """The validator's own words are the only way to learn why a config was rejected."""
    cfg = tmp_path / "in.yml"
    out = tmp_path / "out.yml"
    atomic_replace(cfg, b"ok: 1\n")
    validate = (
        "sh",
        "-c",
        'grep -q "^ok:" "$1" || { echo "line 1: field broken not found" >&2; exit 1; }',
        "validate",
        "{}",
    )
    caplog.set_level(logging.ERROR, logger="config_reloader")
    async with RecordingEndpoint([str(out)]) as ep:
        run = await start_reloader(
            opts(ep, config_file=str(cfg), config_envsubst_file=str(out), validate_command=validate)
        )
        atomic_replace(cfg, b"broken: 1\n")
        await wait_until(lambda: run.metric("reloader_config_validation_failures_total") >= 1, timeout=10)
        records = [r for r in caplog.records if r.getMessage().startswith("apply failed")]
        assert records, "no 'apply failed' log line"
        assert "field broken not found" in getattr(records[-1], "validate_output", "")


async def test_status_server_metrics_and_ready(tmp_path: Path, start_reloader: Start) -> None:
    import aiohttp

    from config_reloader.metrics import StatusServer

    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    async with RecordingEndpoint([str(cfg)]) as ep:
        run = await start_reloader(opts(ep, config_file=str(cfg), listen_address="127.0.0.1:0"))
        server = run.reloader._server
        assert isinstance(server, StatusServer)
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{server.port}/ready") as resp:
                assert resp.status == 200
            async with s.get(f"http://127.0.0.1:{server.port}/metrics") as resp:
                text = await resp.text()
        assert "reloader_reloads_total 1.0" in text
        assert 'reloader_info{method="http"} 1.0' in text
        await run.stop()
        assert run.reloader._server is None


async def test_forced_polling_still_reloads_and_exports_mode(tmp_path: Path, start_reloader: Start) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"p1")
    async with RecordingEndpoint([str(cfg)]) as ep:
        run = await start_reloader(opts(ep, config_file=str(cfg), force_polling=True, poll_interval=0.1))
        assert run.metric("reloader_watch_mode", {"mode": "poll"}) == 1
        assert run.metric("reloader_watch_mode", {"mode": "inotify"}) == 0
        atomic_replace(cfg, b"p2")
        await ep.wait_for(lambda: seen(ep, cfg) == [b"p1", b"p2"], timeout=10)


async def test_vim_style_saves_at_delay_zero_never_reload_partial_content(
    tmp_path: Path, start_reloader: Start
) -> None:
    """--delay-interval=0 and editor saves that leave the target missing/empty/partial for a
    moment: vim's default (rename F to F~, write a new F in place, delete F~) and the brief's
    variant (write F.new, rename F to F~, rename F.new over F, delete F~). The reloader discards
    an apply raced by a write (ChangeSource.drain()), so no reload ever sees a partial config."""
    cfg = tmp_path / "prometheus.yml"
    body = b"".join(b"rule %04d: keep\n" % i for i in range(400))
    atomic_replace(cfg, b"v0\n" + body)
    versions = {b"v0\n" + body}
    async with RecordingEndpoint([str(cfg)]) as ep:
        await start_reloader(opts(ep, config_file=str(cfg), delay_interval=0.0))
        backup = tmp_path / "prometheus.yml~"
        for i in range(1, 9):
            new = b"v%d\n" % i + body
            versions.add(new)
            if i % 2:
                os.rename(cfg, backup)
                await asyncio.to_thread(write_in_place, cfg, new, chunks=3, pause=0.02)
            else:
                staged = tmp_path / "prometheus.yml.new"
                await asyncio.to_thread(write_in_place, staged, new, chunks=3, pause=0.02)
                os.rename(cfg, backup)
                os.rename(staged, cfg)
            backup.unlink()
            await ep.wait_for(lambda new=new: seen(ep, cfg)[-1:] == [new], timeout=10)
        for r in ep.reloads:
            assert r.contents.get(str(cfg)) in versions  # never missing, empty or partial


def write_via_temp(target: Path, data: bytes, temp_name: str, pause: float) -> None:
    """An atomic writer with its temp file in the target's dir (write, fsync, close, then
    ``pause`` seconds, e.g. a slow fsync or a busy machine, then rename over the target)."""
    tmp = target.with_name(temp_name)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    time.sleep(pause)
    os.rename(tmp, target)


async def test_writer_temp_files_in_watched_dir_are_not_changes_of_their_own(
    tmp_path: Path, start_reloader: Start
) -> None:
    """--delay-interval=0, a writer that does it right (temp file in the watched dir, fsync,
    rename over the target), 20 times: exactly one reload per change, each with the new content
    (the temp file's close used to be a change of its own: an extra reload with the old target)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    target = rules / "a.yml"
    atomic_replace(target, b"a0")
    async with RecordingEndpoint([str(rules)]) as ep:
        run = await start_reloader(opts(ep, watched_dirs=(str(rules),), delay_interval=0.0))
        assert len(ep.successful) == 1
        for i in range(1, 21):
            new = b"a%d" % i
            # in a thread, as another process would: the reloader runs between close and rename
            temp_name = f".a.yml.{i}.tmp" if i % 2 else "a.yml.tmp"  # atomic_write's / a fixed one
            await asyncio.to_thread(write_via_temp, target, new, temp_name, 0.05)
            await ep.wait_for(lambda i=i: len(ep.successful) >= 1 + i, timeout=10)
            await run.reloader.wait_applied(timeout=10)
            assert [r.contents.get(str(target)) for r in ep.successful] == [b"a%d" % n for n in range(i + 1)]
            assert all(set(r.contents) == {str(target)} for r in ep.successful)
        assert run.metric("reloader_reloads_total") == 21
        # an editor's backup and swap files next to the rules are not configuration either
        (rules / "a.yml~").write_bytes(b"old")
        (rules / ".a.yml.swp").write_bytes(b"swap")
        atomic_replace(rules / "b.yml", b"b")  # a real change after them: the next reload
        await ep.wait_for(lambda: len(ep.successful) == 22, timeout=10)
        assert set(ep.successful[-1].contents) >= {str(target), str(rules / "b.yml")}
        await run.reloader.wait_applied(timeout=10)
        assert run.metric("reloader_reloads_total") == 22


async def test_watch_ignore_empty_counts_every_file_like_thanos(
    tmp_path: Path, start_reloader: Start
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    atomic_replace(rules / "a.yml", b"a0")
    async with RecordingEndpoint([str(rules)]) as ep:
        await start_reloader(opts(ep, watched_dirs=(str(rules),), watch_ignore=()))
        (rules / "notes.tmp").write_bytes(b"x")  # with no ignore globs a *.tmp file is content
        await ep.wait_for(lambda: len(ep.successful) == 2, timeout=10)


async def test_validate_candidates_next_to_a_watched_output_do_not_feed_back(
    tmp_path: Path, start_reloader: Start
) -> None:
    """The output lives in a watched dir and --validate-command writes its candidate next to it:
    the candidate must not hint the next apply (an endless apply loop), even with no ignore globs."""
    cfg = tmp_path / "in.yml"
    rules = tmp_path / "rules"
    rules.mkdir()
    out = rules / "out.yml"
    atomic_replace(cfg, b"v1\n")
    async with RecordingEndpoint([str(out)]) as ep:
        run = await start_reloader(
            opts(
                ep,
                config_file=str(cfg),
                config_envsubst_file=str(out),
                watched_dirs=(str(rules),),
                validate_command=("true", "{}"),
                watch_ignore=(),
            )
        )
        for i in (2, 3):
            atomic_replace(cfg, b"v%d\n" % i)
            await ep.wait_for(lambda i=i: seen(ep, out)[-1] == b"v%d\n" % i, timeout=10)
        await run.reloader.wait_applied(timeout=10)
        # a few passes per change (initial, hints, the output's own rename); a feedback loop
        # would run hundreds by now
        assert run.metric("reloader_config_apply_operations_total") < 20
        # one per content; plus any reload repeated because an event of a change already read
        # arrived while its reload was in flight (seen under load: events lag their change)
        assert len(ep.successful) == 3 + run.metric("reloader_reloads_repeated_total")


async def test_credentials_in_reload_url_never_reach_the_logs(
    tmp_path: Path, start_reloader: Start, caplog: Any
) -> None:
    """A failing target (status 500, then connection refused) with ``user:password@`` in
    --reload-url: the failure is logged once per state change, and the password never appears."""
    import logging

    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    caplog.set_level(logging.DEBUG)
    async with RecordingEndpoint([str(cfg)], fail=lambda n: True) as ep:
        url = ep.reload_url.replace("http://", "http://admin:s3cr3t-pw@")
        run = await start_reloader(
            ReloaderOptions(config_file=str(cfg), reload_url=url, delay_interval=0.0, watch_interval=3600.0),
            wait_ready=False,
        )
        await wait_until(lambda: run.metric("reloader_reloads_failed_total") >= 3, timeout=10)
        await ep.down()
        failed = run.metric("reloader_reloads_failed_total")
        await wait_until(lambda: run.metric("reloader_reloads_failed_total") >= failed + 3, timeout=10)
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "s3cr3t-pw" not in text
    assert sum(r.getMessage() == "reload failed, retrying" for r in caplog.records) == 1
    assert sum(r.getMessage() == "reload still failing, error changed" for r in caplog.records) <= 2


def _writer_process_code(path: Path, loops: int, body: str) -> str:
    return f"import os, time\npath = {str(path)!r}\nfor i in range({loops}):\n" + "".join(
        f"    {line}\n" for line in body.splitlines()
    )


async def _run_writer_process(code: str) -> None:
    """Run ``code`` in a separate Python process (its own scheduling, like a real writer)."""
    import sys

    proc = await childproc.exec_async(sys.executable, "-c", code)
    try:
        async with asyncio.timeout(120):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("rendered", [True, False], ids=["envsubst", "plain"])
async def test_touch_and_identical_in_place_rewrites_by_another_process_never_reload_empty(
    tmp_path: Path, start_reloader: Start, rendered: bool
) -> None:
    """A separate process does ``touch`` + ``open(O_TRUNC)`` + write of the *same* bytes +
    close, 1000 times, 1 ms apart, at --delay-interval=0. Every cycle empties the file for a
    moment, and its IN_MODIFY is queued just after the truncate is visible. Reads in two such
    moments used to agree ("read twice identically") and an empty config was reloaded (/tmp/race:
    2 of 4 extra reloads in 4 runs out of 10). Nothing may be reloaded but the full content."""
    cfg = tmp_path / "in" / "prometheus.yml"
    cfg.parent.mkdir()
    out = tmp_path / "out" / "prometheus.yml"
    out.parent.mkdir()
    body = b"global: {scrape_interval: 15s}\n"
    atomic_replace(cfg, body)
    seen_path = out if rendered else cfg
    async with RecordingEndpoint([str(seen_path)]) as ep:
        kw: dict[str, Any] = {"config_envsubst_file": str(out)} if rendered else {}
        await start_reloader(opts(ep, config_file=str(cfg), delay_interval=0.0, **kw))
        code = _writer_process_code(
            cfg,
            1000,
            f"os.utime(path)\nwith open(path, 'wb') as f:\n    f.write({body!r})\ntime.sleep(0.001)",
        )
        await _run_writer_process(code)
        # A final real change: once it is reloaded, every pass about the storm is behind us.
        atomic_replace(cfg, b"final\n")
        await ep.wait_for(lambda: seen(ep, seen_path)[-1:] == [b"final\n"], timeout=15)
        for r in ep.reloads:
            assert r.contents.get(str(seen_path)) in (body, b"final\n")  # never empty


async def test_truncate_pause_write_by_another_process_never_reloads_empty_or_partial(
    tmp_path: Path, start_reloader: Start
) -> None:
    """A separate process truncates in place (open O_TRUNC), pauses 20 ms (the file is empty and
    still open), writes a new version in two parts 5 ms apart, closes; at --delay-interval=0 each
    version is reloaded once its writer closes, never the empty or half file."""
    cfg = tmp_path / "prometheus.yml"
    rule_body = b"".join(b"rule %04d: keep\n" % i for i in range(100))
    versions = [b"v%d\n" % i + rule_body for i in range(6)]
    atomic_replace(cfg, versions[0])
    async with RecordingEndpoint([str(cfg)]) as ep:
        await start_reloader(opts(ep, config_file=str(cfg), delay_interval=0.0))
        code = (
            f"import os, time\npath = {str(cfg)!r}\nversions = {versions[1:]!r}\n"
            "for v in versions:\n"
            "    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)\n"
            "    time.sleep(0.02)\n"
            "    os.write(fd, v[: len(v) // 2])\n"
            "    time.sleep(0.005)\n"
            "    os.write(fd, v[len(v) // 2 :])\n"
            "    os.close(fd)\n"
            "    time.sleep(0.05)\n"
        )
        await _run_writer_process(code)
        await ep.wait_for(lambda: seen(ep, cfg)[-1:] == [versions[-1]], timeout=15)
        for r in ep.reloads:
            assert r.contents.get(str(cfg)) in versions  # never missing, empty or partial


async def test_config_emptied_on_purpose_is_still_reloaded(tmp_path: Path, start_reloader: Start) -> None:
    """An emptied config is content too: ``: > file`` (truncate + close) is reloaded once its
    writer closes, ``truncate -s 0`` (no close ever) once max_open_wait (5 s) runs out."""
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1\n")
    async with RecordingEndpoint([str(cfg)]) as ep:
        await start_reloader(opts(ep, config_file=str(cfg), delay_interval=0.0))
        await asyncio.to_thread(write_in_place, cfg, b"")
        await ep.wait_for(lambda: seen(ep, cfg)[-1:] == [b""], timeout=10)
        atomic_replace(cfg, b"v2\n")
        await ep.wait_for(lambda: seen(ep, cfg)[-1:] == [b"v2\n"], timeout=10)
        os.truncate(cfg, 0)
        await ep.wait_for(lambda: seen(ep, cfg)[-1:] == [b""], timeout=20)
        assert seen(ep, cfg) == [b"v1\n", b"", b"v2\n", b""]


class DecidedOn:
    """HTTP reload recording, at each trigger, the SHA-256 of the config file ``path`` the
    reloader is applying (``Reloader.last_rendered.source_digest`` when it renders, else from
    ``Reloader.last_snapshot``): what it decided on, whatever the service later reads. Set
    ``.reloader`` once it exists (triggers before that are not recorded)."""

    method = "http"

    def __init__(self, url: str, path: Path) -> None:
        self.inner = HttpReload(url, timeout=5.0)
        self.path = str(path)
        self.reloader: Any = None
        self.decided: list[bytes | None] = []

    async def trigger(self) -> None:
        r = self.reloader
        if r is not None and r.last_rendered is not None:  # rendering: the input bytes rendered
            self.decided.append(r.last_rendered.source_digest)
        elif r is not None and r.last_snapshot is not None:
            self.decided.append(r.last_snapshot.files.get(self.path))
        await self.inner.trigger()

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("rendered", [True, False], ids=["envsubst", "plain"])
async def test_back_to_back_writers_never_reload_the_next_writers_truncate(
    tmp_path: Path, start_reloader: Start, rendered: bool
) -> None:
    """Each writer starts the moment the previous one is done: an atomic rename or an in-place
    write ends, and the next writer's ``open(O_TRUNC)`` empties the file at once, for 10 ms. The
    finished writer's event may be processed (and the file stat'ed) after that truncate and
    before the truncate's own IN_MODIFY is queued, so the empty file looks like what a finished
    writer left (found by the long property run). Only complete versions may be reloaded: the
    rendered output as the endpoint reads it, and the config file's bytes in the snapshot each
    reload was decided on (the endpoint's own read of the live config file may meet the next
    writer, which no reloader can prevent)."""
    cfg = tmp_path / "in" / "prometheus.yml"
    cfg.parent.mkdir()
    out = tmp_path / "out" / "prometheus.yml"
    out.parent.mkdir()
    versions = [b"version %03d\n" % i + b"rules: keep\n" * (1 + i % 7) for i in range(120)]
    digests = {hashlib.sha256(v).digest() for v in versions}
    atomic_replace(cfg, versions[0])
    async with RecordingEndpoint([str(out if rendered else cfg)]) as ep:
        kw: dict[str, Any] = {"config_envsubst_file": str(out)} if rendered else {}
        action = DecidedOn(ep.reload_url, cfg)
        run = await start_reloader(opts(ep, config_file=str(cfg), delay_interval=0.0, **kw), action=action)
        action.reloader = run.reloader
        code = (
            f"import os, time\npath = {str(cfg)!r}\nversions = {versions[1:]!r}\n"
            "for i, v in enumerate(versions):\n"
            "    if i % 2:\n"
            "        with open(path + '.tmp', 'wb') as f:\n"
            "            f.write(v)\n"
            "        os.replace(path + '.tmp', path)\n"
            "    else:\n"
            "        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)\n"
            "        time.sleep(0.01)\n"
            "        os.write(fd, v)\n"
            "        os.close(fd)\n"
        )
        await _run_writer_process(code)
        final = hashlib.sha256(versions[-1]).digest()
        await wait_until(lambda: action.decided[-1:] == [final], timeout=15)
        assert all(d in digests for d in action.decided)  # never decided on empty or partial
        if rendered:
            await ep.wait_for(lambda: seen(ep, out)[-1:] == [versions[-1]], timeout=15)
            for r in ep.reloads:
                assert r.contents.get(str(out)) in versions  # never served empty or partial
