"""The public :func:`watch_changes`: settled content snapshots of files and directories."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Sequence

from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS, compile_ignore
from config_reloader.watch.settle import ChangeBatch
from config_reloader.watch.snapshot import Snapshot, Snapshotter
from config_reloader.watch.watcher import ChangeSource

__all__ = ["watch_changes"]


_RACE_RECHECK = 0.005  # seconds; see config_reloader.reconcile.guard.RACE_RECHECK


def _split_paths(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """(files, dirs): a path that is a directory now is watched as one, anything else as a file."""
    files = [os.path.abspath(p) for p in paths if not os.path.isdir(p)]
    dirs = [os.path.abspath(p) for p in paths if os.path.isdir(p)]
    return files, dirs


async def watch_changes(
    paths: Sequence[str],
    *,
    delay: float = 0.1,
    max_open_wait: float = 5.0,
    resync_interval: float | None = None,
    poll_interval: float | None = None,
    force_polling: bool = False,
    on_event: Callable[[str], None] | None = None,
    ignore: Sequence[str] = DEFAULT_IGNORE_GLOBS,
) -> AsyncIterator[Snapshot]:
    """Yield a :class:`Snapshot` each time the settled content of ``paths`` changes.

    The first value is the initial content; after that one value per change of the content digest,
    never one per filesystem event (touch, chmod or rewriting identical bytes yields nothing).
    Files are followed through symlinks; directories are hashed recursively, skipping kubelet's
    ``..*`` entries; a path may not exist yet (it is then absent from ``Snapshot.files``).

    Args:
        paths: files and/or directories (a path that is a directory now is watched as one).
        delay: seconds of quiet after the last change before hashing (trailing-edge debounce).
        max_open_wait: seconds to wait at most for an in-place writer to close the file.
        resync_interval: seconds between full re-snapshots without any event (``None`` = never).
        poll_interval, force_polling, on_event: see :class:`ChangeSource`.
        ignore: base-name globs inside directories that are not content (writers' temp files,
            editor backups; default :data:`~config_reloader.watch.ignore.DEFAULT_IGNORE_GLOBS`);
            ``()`` = every file counts. Files given in ``paths`` are never ignored.

    Yields:
        Snapshot: ``digest`` (32 bytes) and ``files`` (path -> SHA-256 of content).

    Raises:
        SnapshotError: a file exists but cannot be read.

    Example::

        import asyncio
        from config_reloader import watch_changes

        async def main() -> None:
            async for snap in watch_changes(["/etc/app/app.yaml", "/etc/app/rules"], delay=0.5):
                print(snap.digest.hex(), sorted(snap.files))

        asyncio.run(main())
    """
    files, dirs = _split_paths(paths)
    keep = compile_ignore(ignore)
    snapshotter = Snapshotter(dirs, files, path_filter=keep)
    last: bytes | None = None
    source = ChangeSource(
        files,
        dirs,
        delay=delay,
        max_open_wait=max_open_wait,
        poll_interval=poll_interval,
        force_polling=force_polling,
        on_event=on_event,
        path_filter=keep,
    )
    async with source:
        batches = aiter(source)
        while True:
            if resync_interval is None:
                batch: ChangeBatch | None = await anext(batches)
            else:
                try:
                    batch = await asyncio.wait_for(anext(batches), resync_interval)
                except TimeoutError:
                    batch = None
            hinted = None if batch is None or batch.rescan else batch.paths
            snap = await asyncio.to_thread(snapshotter.snapshot, hinted)
            if source.drain():
                continue  # written to while we read it: the next batch re-snapshots
            if snap.digest != last:
                # an event is queued just after its change is visible: look once more
                await asyncio.sleep(_RACE_RECHECK)
                if source.drain():
                    continue
                last = snap.digest
                yield snap
