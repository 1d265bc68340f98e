"""watch_changes(): one Snapshot per content change, never per event."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from config_reloader import watch_changes
from config_reloader.testing import KubeletAtomicWriter, atomic_replace, wait_until
from config_reloader.watch.snapshot import Snapshot

pytestmark = pytest.mark.timeout(120)
DEADLINE = 15.0


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


async def collect(paths: list[str], out: list[Snapshot], **kw: object) -> None:
    async for snap in watch_changes(paths, **kw):  # type: ignore[arg-type]
        out.append(snap)


async def test_yields_initial_then_each_content_change(tmp_path: Path) -> None:
    cfg = tmp_path / "app.yaml"
    cfg.write_bytes(b"v0")
    rules = tmp_path / "rules"
    KubeletAtomicWriter(rules).write({"r.yaml": b"r0"})
    snaps: list[Snapshot] = []
    task = asyncio.create_task(collect([str(cfg), str(rules)], snaps, delay=0.05))
    try:
        await wait_until(lambda: len(snaps) == 1, DEADLINE)
        assert snaps[0].files == {str(cfg): sha(b"v0"), str(rules / "r.yaml"): sha(b"r0")}

        await asyncio.to_thread(atomic_replace, cfg, b"v1")
        await wait_until(lambda: snaps[-1].files.get(str(cfg)) == sha(b"v1"), DEADLINE)
        n = len(snaps)

        # no-op changes: touch, chmod, identical rewrite, identical kubelet payload
        os.utime(cfg)
        os.chmod(cfg, 0o600)
        await asyncio.to_thread(atomic_replace, cfg, b"v1")
        await asyncio.to_thread(KubeletAtomicWriter(rules).write, {"r.yaml": b"r0"})
        # then a real change: it must be the very next yield
        await asyncio.to_thread(KubeletAtomicWriter(rules).write, {"r.yaml": b"r1"})
        await wait_until(lambda: snaps[-1].files.get(str(rules / "r.yaml")) == sha(b"r1"), DEADLINE)
        assert len(snaps) == n + 1
        assert len({s.digest for s in snaps}) == len(snaps)  # every yield is a new digest
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_resync_interval_catches_changes_behind_unwatched_symlinks(tmp_path: Path) -> None:
    """Thanos' TestReloader_DirectoriesApplyBasedOnWatchInterval: content changes in an unwatched
    dir behind a symlink; only the periodic full snapshot can see it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "src.yaml").write_bytes(b"one")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "link.yaml").symlink_to(elsewhere / "src.yaml")
    snaps: list[Snapshot] = []
    task = asyncio.create_task(collect([str(rules)], snaps, delay=0.0, resync_interval=0.2))
    try:
        await wait_until(lambda: len(snaps) == 1, DEADLINE)
        await asyncio.to_thread(atomic_replace, elsewhere / "src.yaml", b"two")
        await wait_until(lambda: snaps[-1].files.get(str(rules / "link.yaml")) == sha(b"two"), DEADLINE)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
