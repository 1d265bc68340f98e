"""Harness for ChangeSource + Snapshotter integration tests (real inotify, tmp_path, deadlines)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from config_reloader.testing import wait_until
from config_reloader.watch.settle import ChangeBatch
from config_reloader.watch.snapshot import Snapshot, Snapshotter
from config_reloader.watch.watcher import ChangeSource

DEADLINE = 15.0  # seconds: generous for a loaded 2-core machine; waits end as soon as the condition holds


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class Harness:
    """Consumes settled batches like the reconciler: each batch -> one (hinted or full) snapshot."""

    def __init__(
        self, files: Sequence[Path], dirs: Sequence[Path], *, use_drain: bool = True, **kw: Any
    ) -> None:
        self.use_drain = use_drain
        self.discarded = 0
        self.events: list[str] = []
        kw.setdefault("delay", 0.0)
        self.source = ChangeSource(
            [str(f) for f in files], [str(d) for d in dirs], on_event=self.events.append, **kw
        )
        self.snapshotter = Snapshotter([str(d) for d in dirs], [str(f) for f in files])
        self.batches: list[ChangeBatch] = []
        self.snaps: list[Snapshot] = []
        self._task: asyncio.Task[None] | None = None

    async def _consume(self) -> None:
        async for batch in self.source:
            self.batches.append(batch)
            hinted = None if batch.rescan else batch.paths
            snap = await asyncio.to_thread(self.snapshotter.snapshot, hinted)
            if self.use_drain and self.source.drain():
                self.discarded += 1
                continue  # changed while we read it: the next batch re-snapshots
            self.snaps.append(snap)

    async def start(self) -> None:
        await self.source.__aenter__()
        self._task = asyncio.create_task(self._consume())
        await wait_until(lambda: bool(self.snaps), DEADLINE)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.source.aclose()

    @property
    def last(self) -> Snapshot:
        return self.snaps[-1]

    def digest_of(self, path: Path) -> bytes | None:
        return self.last.files.get(str(path))

    async def wait_content(self, path: Path, data: bytes | None) -> None:
        """Wait until the latest snapshot has ``path`` with ``data`` (None = absent)."""
        want = None if data is None else sha(data)
        await wait_until(lambda: bool(self.snaps) and self.digest_of(path) == want, DEADLINE)

    async def wait_for(self, pred: Callable[[], bool]) -> None:
        await wait_until(pred, DEADLINE)
