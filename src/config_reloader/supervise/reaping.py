"""Reaping orphans: zombies re-parented to ``run`` (PID 1 in a container, or child subreaper via
``prctl(PR_SET_CHILD_SUBREAPER)``) that are not the supervised child."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from config_reloader.supervise.process import exit_status_from_wait, list_children

if TYPE_CHECKING:
    from config_reloader.supervise.childmetrics import ChildMetrics

__all__ = ["ORPHAN_GRACE", "OrphanReaper"]

log = logging.getLogger("config_reloader.supervise")

ORPHAN_GRACE = 1.0
"""Seconds a foreign zombie may wait for its own waiter (asyncio's child watcher)."""


class OrphanReaper:
    """Reaps zombie children other than the main child (:meth:`reap`), counted in
    ``reloader_child_orphans_reaped_total`` when ``metrics`` is given.

    Args:
        main: the supervised child's pid now (never reaped here), or None.
        metrics: where to count.
    """

    def __init__(self, main: Callable[[], int | None], metrics: ChildMetrics | None) -> None:
        self._main = main
        self._metrics = metrics
        self._zombies_seen: dict[int, float] = {}
        self._handle: asyncio.TimerHandle | None = None

    def close(self) -> None:
        """Cancel a scheduled second look."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def reap(self, *, force: bool = False) -> None:
        """Reap zombie children other than the main child.

        A zombie that is not ours may belong to an asyncio subprocess of this process (validate
        hook), whose watcher reaps it itself: such zombies get ``ORPHAN_GRACE`` seconds first
        (``force`` skips the grace: ``run`` is exiting).
        """
        now = time.monotonic()
        main = self._main()
        zombies = {p for p, state in list_children().items() if state == "Z" and p != main}
        for p in list(self._zombies_seen):
            if p not in zombies:
                del self._zombies_seen[p]
        pending = False
        for p in zombies:
            first = self._zombies_seen.setdefault(p, now)
            if not force and now - first < ORPHAN_GRACE:
                pending = True
                continue
            try:
                rpid, wstatus = os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                rpid = 0
            self._zombies_seen.pop(p, None)
            if rpid == p:
                log.debug("reaped orphan", extra={"pid": p, "status": exit_status_from_wait(wstatus)})
                if self._metrics is not None:
                    self._metrics.orphans_reaped.inc()
        if pending and not force and self._handle is None:

            def again() -> None:
                self._handle = None
                self.reap()

            with contextlib.suppress(RuntimeError):  # loop closing
                self._handle = asyncio.get_running_loop().call_later(ORPHAN_GRACE, again)
