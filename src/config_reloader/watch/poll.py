"""The polling fallback's view of the watched paths: one stat identity per path."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence

from config_reloader.fileid import FileIdentity, stat_identity
from config_reloader.watch.ignore import PathFilter

__all__ = ["PollIdentity", "poll_loop", "poll_signature"]

PollIdentity = FileIdentity | None
"""A path's identity, or None when it cannot be stat'ed (missing)."""


def poll_signature(
    files: Sequence[str], dirs: Sequence[str], path_filter: PathFilter
) -> dict[str, PollIdentity]:
    """Identity of every polled path: config ``files``, watched ``dirs`` and their direct entries
    (those ``path_filter`` keeps). Two signatures differ where something changed."""
    sig: dict[str, PollIdentity] = {}
    for f in files:
        sig[f] = stat_identity(f)
    for d in dirs:
        sig[d] = stat_identity(d)
        try:
            with os.scandir(d) as it:
                names = [e.name for e in it]
        except OSError:
            continue
        for name in names:
            path = os.path.join(d, name)
            if path_filter(path):
                sig[path] = stat_identity(path)
    return sig


async def poll_loop(
    signature: Callable[[], dict[str, PollIdentity]],
    interval: float,
    *,
    changed: Callable[[list[str]], None],
    failed: Callable[[], None],
) -> None:
    """Every ``interval`` seconds take a ``signature`` and call ``changed(paths)`` with the paths
    whose identity differs from the previous one; ``failed()`` (inside the ``except``, so it may
    log the exception) when taking one raised. Runs until cancelled."""
    previous = signature()
    while True:
        await asyncio.sleep(interval)
        try:
            current = signature()
        except Exception:
            failed()
            continue
        paths = [p for p in previous.keys() | current.keys() if previous.get(p) != current.get(p)]
        previous = current
        if paths:
            changed(paths)
