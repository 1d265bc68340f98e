"""ChangeSource + Snapshotter against real inotify: every kind of writer a reloader meets."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from watch_harness import DEADLINE, Harness, sha

from config_reloader.errors import InotifyLimitError
from config_reloader.testing import KubeletAtomicWriter, atomic_replace, write_in_place
from config_reloader.watch.inotify import Inotify

pytestmark = pytest.mark.timeout(120)


async def sentinel_roundtrip(h: Harness, sentinel: Path, data: bytes) -> None:
    """Write ``sentinel`` and wait until it is seen: inotify delivers events in order, so every
    event caused before this write has been processed once this returns."""
    await asyncio.to_thread(atomic_replace, sentinel, data)
    await h.wait_content(sentinel, data)


async def test_initial_batch_and_mode(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "prometheus.yaml"
    cfg.write_bytes(b"v0")
    h = await harness([cfg], [])
    assert h.batches[0].reason == "initial" and h.batches[0].rescan
    assert h.source.mode == "inotify"
    assert h.source.watches == 1
    assert h.digest_of(cfg) == sha(b"v0")


async def test_config_replaced_by_rename_20_times(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "prometheus.yaml"
    cfg.write_bytes(b"v0")
    h = await harness([cfg], [])
    for i in range(1, 21):
        await asyncio.to_thread(atomic_replace, cfg, b"version %d" % i)
        await h.wait_content(cfg, b"version %d" % i)
    assert "event" in h.events


async def test_unrelated_names_in_config_dir_are_not_hints(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "prometheus.yaml"
    cfg.write_bytes(b"v0")
    other = tmp_path / "other.yaml"
    h = await harness([cfg], [])
    n = len(h.batches)
    for i in range(5):
        await asyncio.to_thread(atomic_replace, other, b"%d" % i)
    await sentinel_roundtrip(h, cfg, b"v1")
    # the 5 unrelated writes produced no batch of their own: only the config write's batch(es)
    assert all(str(other) not in b.paths for b in h.batches[n:])


async def test_kubelet_volume_as_watched_dir(tmp_path: Path, harness: Any) -> None:
    vol = tmp_path / "rules"
    writer = KubeletAtomicWriter(vol)
    writer.write({"a.yaml": b"a1", "b.yaml": b"b1"})
    sentinel = tmp_path / "sentinel"
    sentinel.write_bytes(b"s0")
    h = await harness([sentinel], [vol])
    assert h.digest_of(vol / "a.yaml") == sha(b"a1")

    assert await asyncio.to_thread(writer.write, {"a.yaml": b"a2", "b.yaml": b"b1"})
    await h.wait_content(vol / "a.yaml", b"a2")

    # identical payload: nothing on disk changes, no new content digest for the volume
    digests_before = {s.digest for s in h.snaps}
    vol_state = {k: v for k, v in h.last.files.items() if k.startswith(str(vol))}
    assert not await asyncio.to_thread(writer.write, {"a.yaml": b"a2", "b.yaml": b"b1"})
    await sentinel_roundtrip(h, sentinel, b"s1")
    assert {k: v for k, v in h.last.files.items() if k.startswith(str(vol))} == vol_state
    assert len({s.digest for s in h.snaps} - digests_before) == 1  # only the sentinel's change

    # keys added and removed
    assert await asyncio.to_thread(writer.write, {"a.yaml": b"a2", "c.yaml": b"c1"})
    await h.wait_for(
        lambda: sorted(h.last.files) == sorted([str(sentinel), str(vol / "a.yaml"), str(vol / "c.yaml")])
    )
    assert h.digest_of(vol / "c.yaml") == sha(b"c1")


async def test_kubelet_volume_config_file_only(tmp_path: Path, harness: Any) -> None:
    """prometheus-operator's --config-file on a Secret volume: only ..data changes on disk."""
    vol = tmp_path / "config"
    writer = KubeletAtomicWriter(vol)
    writer.write({"prometheus.yaml.gz": b"one"})
    cfg = vol / "prometheus.yaml.gz"
    h = await harness([cfg], [])
    for i in range(5):
        await asyncio.to_thread(writer.write, {"prometheus.yaml.gz": b"update %d" % i})
        await h.wait_content(cfg, b"update %d" % i)


async def test_in_place_write_in_chunks_batch_only_after_close(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "prometheus.yaml"
    old = b"old content\n" * 10
    new = b"new content, longer than before\n" * 30
    cfg.write_bytes(old)
    h = await harness([cfg], [], delay=0.0, max_open_wait=30.0)
    await asyncio.to_thread(write_in_place, cfg, new, chunks=3, pause=0.3)
    await h.wait_content(cfg, new)
    seen = {s.files.get(str(cfg)) for s in h.snaps}
    assert seen <= {sha(old), sha(new)}, "a snapshot saw an empty or partial file"


async def test_in_place_writer_that_never_closes_is_bounded(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "app.conf"
    cfg.write_bytes(b"a")
    h = await harness([cfg], [], delay=0.0, max_open_wait=0.5)
    n = len(h.snaps)
    fd = os.open(cfg, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"b")
        await h.wait_content(cfg, b"ab")  # emitted after max_open_wait although still open
        assert len(h.snaps) > n
    finally:
        os.close(fd)


async def test_watched_dir_deleted_and_recreated(tmp_path: Path, harness: Any) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_bytes(b"r0")
    h = await harness([], [rules])
    shutil.rmtree(rules)
    await h.wait_for(lambda: h.last.files == {} and str(rules) in h.last.missing)
    rules.mkdir()
    await asyncio.to_thread(atomic_replace, rules / "r.yaml", b"r1")
    await h.wait_content(rules / "r.yaml", b"r1")
    # the new directory is really watched again, not only rescanned once
    await asyncio.to_thread(atomic_replace, rules / "r2.yaml", b"x")
    await h.wait_content(rules / "r2.yaml", b"x")
    assert any(b.reason == "rearm" for b in h.batches)


async def test_watched_dir_created_later_under_missing_parents(tmp_path: Path, harness: Any) -> None:
    rules = tmp_path / "a" / "b" / "rules"
    h = await harness([], [rules])
    assert str(rules) in h.last.missing
    rules.mkdir(parents=True)
    await asyncio.to_thread(atomic_replace, rules / "r.yaml", b"late")
    await h.wait_content(rules / "r.yaml", b"late")
    await asyncio.to_thread(atomic_replace, rules / "r.yaml", b"later")
    await h.wait_content(rules / "r.yaml", b"later")


async def test_config_file_deleted_and_recreated(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "conf" / "prometheus.yaml"
    cfg.parent.mkdir()
    cfg.write_bytes(b"v0")
    h = await harness([cfg], [])
    cfg.unlink()
    await h.wait_content(cfg, None)
    assert str(cfg) in h.last.missing
    await asyncio.to_thread(atomic_replace, cfg, b"v1")
    await h.wait_content(cfg, b"v1")
    # parent directory removed and recreated: re-armed through the ancestor
    shutil.rmtree(cfg.parent)
    await h.wait_content(cfg, None)
    cfg.parent.mkdir()
    await asyncio.to_thread(atomic_replace, cfg, b"v2")
    await h.wait_content(cfg, b"v2")
    await asyncio.to_thread(atomic_replace, cfg, b"v3")
    await h.wait_content(cfg, b"v3")


async def test_watched_dir_symlink_retargeted(tmp_path: Path, harness: Any) -> None:
    for v in ("v1", "v2"):
        (tmp_path / v).mkdir()
        (tmp_path / v / "r.yaml").write_bytes(v.encode())
    rules = tmp_path / "rules"
    rules.symlink_to("v1")
    h = await harness([], [rules])
    assert h.digest_of(rules / "r.yaml") == sha(b"v1")
    tmp = tmp_path / "rules.new"
    tmp.symlink_to("v2")
    os.replace(tmp, rules)  # what `ln -sfn` does
    await h.wait_content(rules / "r.yaml", b"v2")
    # the watch now follows the new target
    await asyncio.to_thread(atomic_replace, tmp_path / "v2" / "r.yaml", b"v2-changed")
    await h.wait_content(rules / "r.yaml", b"v2-changed")


def max_queued_events() -> int:
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        return int(f.read())


async def test_queue_overflow_gives_a_rescan(tmp_path: Path, harness: Any) -> None:
    limit = max_queued_events()
    rules = tmp_path / "rules"
    rules.mkdir()
    h = await harness([], [rules])
    n = limit + 100
    # Created synchronously on the loop thread: the reader cannot drain meanwhile, so the kernel
    # queue (max_queued_events) must overflow: 2 events (IN_CREATE, IN_CLOSE_WRITE) per file.
    for i in range(n):
        os.close(os.open(rules / f"f{i:05}", os.O_CREAT | os.O_WRONLY, 0o644))
    await h.wait_for(lambda: any(b.reason == "overflow" and b.rescan for b in h.batches))
    assert "overflow" in h.events
    await h.wait_for(lambda: len(h.last.files) == n)
    await asyncio.to_thread(atomic_replace, rules / "f00000", b"after overflow")
    await h.wait_content(rules / "f00000", b"after overflow")


def limited_factory() -> Inotify:
    raise InotifyLimitError("inotify_init1: too many instances", sysctl="fs.inotify.max_user_instances")


async def test_poll_fallback_when_inotify_is_exhausted(
    tmp_path: Path, harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = tmp_path / "prometheus.yaml"
    cfg.write_bytes(b"v0")
    rules = tmp_path / "rules"
    rules.mkdir()
    with caplog.at_level(logging.WARNING, logger="config_reloader.watch.watcher"):
        h = await harness([cfg], [rules], inotify_factory=limited_factory, poll_interval=0.05)
    assert h.source.mode == "poll"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert getattr(warnings[0], "sysctl", None) == "fs.inotify.max_user_instances"
    assert getattr(warnings[0], "poll_interval", None) == 0.05
    await asyncio.to_thread(atomic_replace, cfg, b"v1")
    await h.wait_content(cfg, b"v1")
    await asyncio.to_thread(atomic_replace, rules / "r.yaml", b"r")
    await h.wait_content(rules / "r.yaml", b"r")
    KubeletAtomicWriter(tmp_path / "vol")  # unrelated dir: no effect
    assert h.digest_of(cfg) == sha(b"v1")


class ExhaustedLater(Inotify):
    """Accepts the first ``budget`` add_watch calls, then ENOSPC (max_user_watches reached)."""

    budget = 1

    def add_watch(self, path: str, mask: int) -> int:
        if ExhaustedLater.budget <= 0:
            raise InotifyLimitError("watch limit", sysctl="fs.inotify.max_user_watches")
        ExhaustedLater.budget -= 1
        return super().add_watch(path, mask)


async def test_runtime_enospc_on_rearm_falls_back_to_polling(tmp_path: Path, harness: Any) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    ExhaustedLater.budget = 1
    h = await harness([], [rules], inotify_factory=ExhaustedLater, poll_interval=0.05)
    assert h.source.mode == "inotify"
    shutil.rmtree(rules)  # IN_IGNORED -> re-arm -> ENOSPC -> polling
    await h.wait_for(lambda: h.source.mode == "poll")
    rules.mkdir()
    await asyncio.to_thread(atomic_replace, rules / "r.yaml", b"polled")
    await h.wait_content(rules / "r.yaml", b"polled")


async def test_force_polling(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "c"
    cfg.write_bytes(b"0")
    h = await harness([cfg], [], force_polling=True, poll_interval=0.05)
    assert h.source.mode == "poll"
    await asyncio.to_thread(atomic_replace, cfg, b"1")
    await h.wait_content(cfg, b"1")


async def test_touch_chmod_identical_rewrite_do_not_change_digest(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "prometheus.yaml"
    cfg.write_bytes(b"same")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_bytes(b"rule")
    sentinel = tmp_path / "sentinel"
    sentinel.write_bytes(b"0")
    h = await harness([cfg, sentinel], [rules])
    before = h.last.digest
    n = len(h.batches)
    os.utime(cfg)
    os.chmod(cfg, 0o600)
    os.utime(rules / "r.yaml")
    await asyncio.to_thread(atomic_replace, cfg, b"same")
    await asyncio.to_thread(write_in_place, rules / "r.yaml", b"rule")
    await h.wait_for(lambda: len(h.batches) > n)  # hints did arrive
    await sentinel_roundtrip(h, sentinel, b"1")
    cfg_rules = {str(cfg), str(rules / "r.yaml")}
    assert {p: d for p, d in h.last.files.items() if p in cfg_rules} == {
        str(cfg): sha(b"same"),
        str(rules / "r.yaml"): sha(b"rule"),
    }
    distinct = {s.digest for s in h.snaps}
    assert distinct == {before, h.last.digest}  # only the sentinel changed the digest


async def test_debounce_collapses_a_burst(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "prometheus.yaml"
    cfg.write_bytes(b"v0")
    h = await harness([cfg], [], delay=0.3)
    n = len(h.batches)
    for i in range(30):
        await asyncio.to_thread(atomic_replace, cfg, b"burst %d" % i)
    await h.wait_content(cfg, b"burst 29")
    # 30 writes within far less than 0.3 s each: a handful of batches at most, never one per write
    assert len(h.batches) - n < 30


async def test_close_stops_iteration(tmp_path: Path) -> None:
    from config_reloader.watch.watcher import ChangeSource

    source = ChangeSource([str(tmp_path / "c")], [], delay=0.0)
    async with source:
        batch = await anext(aiter(source))
        assert batch.reason == "initial"
        waiter = asyncio.create_task(anext(aiter(source)))
        await asyncio.sleep(0)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, DEADLINE)
    assert source.watches == 0


async def test_symlinked_config_file_sees_changes_where_it_points(tmp_path: Path, harness: Any) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "prometheus.yaml").write_bytes(b"c0")
    etc = tmp_path / "etc"
    etc.mkdir()
    cfg = etc / "prometheus.yaml"
    cfg.symlink_to(checkout / "prometheus.yaml")
    h = await harness([cfg], [])
    await asyncio.to_thread(atomic_replace, checkout / "prometheus.yaml", b"c1")  # not in etc/
    await h.wait_content(cfg, b"c1")
    # retarget the link to another checkout: the new place is watched from then on
    other = tmp_path / "other"
    other.mkdir()
    (other / "p.yaml").write_bytes(b"o0")
    tmp = etc / "tmp-link"
    tmp.symlink_to(other / "p.yaml")
    os.replace(tmp, cfg)
    await h.wait_content(cfg, b"o0")
    await asyncio.to_thread(atomic_replace, other / "p.yaml", b"o1")
    await h.wait_content(cfg, b"o1")


async def test_watched_dir_moved_away_and_replaced(tmp_path: Path, harness: Any) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_bytes(b"old")
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "r.yaml").write_bytes(b"new")
    h = await harness([], [rules])
    os.rename(rules, tmp_path / "rules.old")  # IN_MOVE_SELF
    os.rename(staged, rules)
    await h.wait_content(rules / "r.yaml", b"new")
    await asyncio.to_thread(atomic_replace, rules / "r.yaml", b"newer")
    await h.wait_content(rules / "r.yaml", b"newer")
    # the old, moved-away directory is no longer watched
    await asyncio.to_thread(atomic_replace, tmp_path / "rules.old" / "r.yaml", b"ignored")
    await asyncio.to_thread(atomic_replace, rules / "r.yaml", b"last")
    await h.wait_content(rules / "r.yaml", b"last")
    assert all(str(tmp_path / "rules.old") not in p for b in h.batches for p in b.paths)


def no_inotify() -> Inotify:
    raise OSError(38, "Function not implemented")  # ENOSYS: a sandbox without inotify


async def test_poll_fallback_when_inotify_is_unavailable(tmp_path: Path, harness: Any) -> None:
    cfg = tmp_path / "c"
    cfg.write_bytes(b"0")
    h = await harness([cfg], [], inotify_factory=no_inotify, poll_interval=0.05)
    assert h.source.mode == "poll"
    assert "error" in h.events
    await asyncio.to_thread(atomic_replace, cfg, b"1")
    await h.wait_content(cfg, b"1")


async def test_dangling_symlink_dir_rearmed_when_its_target_appears(tmp_path: Path, harness: Any) -> None:
    rules = tmp_path / "rules"
    rules.symlink_to(tmp_path / "later" / "rules")  # dangling: nothing in tmp_path will change
    h = await harness([], [rules], poll_interval=0.1)
    assert str(rules) in h.last.missing
    (tmp_path / "later" / "rules").mkdir(parents=True)
    (tmp_path / "later" / "rules" / "r.yaml").write_bytes(b"r0")
    await h.wait_content(rules / "r.yaml", b"r0")
    await asyncio.to_thread(atomic_replace, tmp_path / "later" / "rules" / "r.yaml", b"r1")
    await h.wait_content(rules / "r.yaml", b"r1")


async def test_vim_style_save_backup_rename_then_new_file(tmp_path: Path, harness: Any) -> None:
    """vim's default save renames F to F~, writes a new F in place, deletes F~."""
    cfg = tmp_path / "app.conf"
    cfg.write_bytes(b"s0")
    h = await harness([cfg], [], delay=0.0)
    for i in range(1, 4):
        backup = tmp_path / "app.conf~"
        os.rename(cfg, backup)
        await asyncio.to_thread(write_in_place, cfg, b"save %d" % i, chunks=2, pause=0.05)
        backup.unlink()
        await h.wait_content(cfg, b"save %d" % i)
    complete = {sha(b"s0"), None} | {sha(b"save %d" % i) for i in (1, 2, 3)}
    assert {s.files.get(str(cfg)) for s in h.snaps} <= complete  # never a half-written save


async def test_drain_reports_writes_that_raced_a_snapshot(tmp_path: Path) -> None:
    from config_reloader.watch.watcher import ChangeSource

    cfg = tmp_path / "c"
    cfg.write_bytes(b"0")
    async with ChangeSource([str(cfg)], [], delay=0.0) as source:
        batches = aiter(source)
        assert (await anext(batches)).reason == "initial"
        assert source.drain() is False  # nothing happened since the batch was taken
        fd = os.open(cfg, os.O_WRONLY | os.O_TRUNC)  # a writer starts while "we snapshot"
        try:
            assert source.drain() is True  # its event was already queued: the snapshot is suspect
        finally:
            os.close(fd)
        batch = await asyncio.wait_for(anext(batches), DEADLINE)
        assert str(cfg) in batch.paths
        assert source.drain() is False


async def test_writes_since_mark_sees_in_place_writes_not_renames_or_touches(
    tmp_path: Path, harness: Any
) -> None:
    """mark()/writes_since(): an in-place write (IN_MODIFY) after the mark makes a read unsafe;
    an atomic rename, a touch or a chmod cannot expose a partial file and does not."""
    cfg = tmp_path / "prometheus.yaml"
    sentinel = tmp_path / "sentinel"
    atomic_replace(cfg, b"v0")
    sentinel.write_bytes(b"s0")
    h = await harness([cfg, sentinel], [], delay=0.0)
    mark = h.source.mark()
    atomic_replace(cfg, b"v1")
    os.utime(cfg)
    os.chmod(cfg, 0o600)
    await sentinel_roundtrip(h, sentinel, b"s1")  # every event above has been processed
    assert not h.source.writes_since(mark)
    mark = h.source.mark()
    await asyncio.to_thread(write_in_place, cfg, b"v2")
    await h.wait_content(cfg, b"v2")
    assert h.source.writes_since(mark)  # closed since, but it was written in place
    assert not h.source.writes_since(h.source.mark())


async def test_change_gen_moves_on_content_events_not_on_touch_or_chmod(tmp_path: Path, harness: Any) -> None:
    """change_gen: a touch or chmod (IN_ATTRIB alone) cannot change what a reader sees and leaves it
    as it is; a rename, an in-place write or a delete moves it. (An event is queued before the
    syscall that caused it returns, and change_gen drains, so no waiting is needed.)"""
    cfg = tmp_path / "prometheus.yaml"
    atomic_replace(cfg, b"v0")
    h = await harness([cfg], [], delay=0.0)
    gen = h.source.change_gen
    os.utime(cfg)
    os.chmod(cfg, 0o600)
    assert h.source.change_gen == gen
    for change in (
        lambda: atomic_replace(cfg, b"v1"),
        lambda: write_in_place(cfg, b"v2"),
        lambda: os.unlink(cfg),
    ):
        change()
        assert h.source.change_gen != gen
        gen = h.source.change_gen


async def test_finished_identity_is_what_the_writer_left(tmp_path: Path, harness: Any) -> None:
    """finished_identity(): the file's identity when its writer was seen done: at IN_CLOSE_WRITE,
    at IN_MOVED_TO, or when max_open_wait ran out for a writer that never closes (truncate(2))."""

    def ident(path: Path) -> tuple[int, int, int, int, int]:
        st = os.stat(path)
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    cfg = tmp_path / "prometheus.yaml"
    atomic_replace(cfg, b"v0")
    h = await harness([cfg], [], delay=0.0, max_open_wait=0.3)
    assert h.source.finished_identity(str(cfg)) is None  # no writer seen yet
    await asyncio.to_thread(write_in_place, cfg, b"")  # `: > file`: emptied and closed
    await h.wait_for(lambda: h.source.finished_identity(str(cfg)) == ident(cfg))
    atomic_replace(cfg, b"v1")
    await h.wait_for(lambda: h.source.finished_identity(str(cfg)) == ident(cfg))
    os.truncate(cfg, 0)  # IN_MODIFY, no close ever: finished once max_open_wait ran out
    await h.wait_content(cfg, b"")
    await h.wait_for(lambda: h.source.finished_identity(str(cfg)) == ident(cfg))
