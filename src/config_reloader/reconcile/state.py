"""The loop's shared state: desired vs applied digest, the forced-reload flag, readiness.

One asyncio task owns the apply side (:mod:`~config_reloader.reconcile.loop`), one the reload side
(:mod:`~config_reloader.reconcile.worker`); both change this object only on the event loop, and
wake each other through :meth:`LoopState.notify`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from config_reloader.reconcile.source import Pending

if TYPE_CHECKING:
    from config_reloader.metrics import ReloaderMetrics

__all__ = ["LoopState"]

log = logging.getLogger("config_reloader.reconcile")


class LoopState:
    """Digests and flags of one :class:`~config_reloader.reconcile.loop.Reloader`.

    Attributes:
        applied: digest of the content last reloaded successfully (``None`` before).
        desired: digest of the content currently rendered (``None`` before the first apply).
        ready: True after the first successful apply (render + reload; render only in init mode).
        force: the last reload attempt failed: reload even if ``desired == applied``.
        stale: a reload finished after content changed since its target was read (the service
            may have read a state in between; see ``ReloadWorker``).
        desired_gen: the change source's ``change_gen`` when the last accepted pass started.
        desired_at: monotonic time ``desired`` last changed.
        last_reload_latency: seconds from the apply that produced the applied digest to its reload.
        changes: inputs whose content changed since the last successful reload (for its log line).
        pending: hints not looked at yet.
        wake: set when ``pending`` has something (created on the running loop).
        secrets: the values ``$(VAR)`` expansion put into the current output: a target that
            rejects the config may quote one in its answer, which is logged (masked with these).
    """

    def __init__(self, metrics: ReloaderMetrics) -> None:
        self.metrics = metrics
        self.applied: bytes | None = None
        self.desired: bytes | None = None
        self.ready = False
        self.force = False
        self.stale = False
        self.desired_gen: int | None = None
        self.desired_at: float | None = None
        self.last_reload_latency: float | None = None
        self.changes: set[str] = set()
        self.pending = Pending()
        self.wake: asyncio.Event | None = None
        self.secrets: tuple[str, ...] = ()
        self._changed: asyncio.Condition | None = None

    def cond(self) -> asyncio.Condition:
        """The condition notified on every change of the digests or flags."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def notify(self) -> None:
        self.metrics.pending_reload.set(1 if self.needs_reload() else 0)
        cond = self.cond()
        async with cond:
            cond.notify_all()

    def needs_reload(self) -> bool:
        return self.desired is not None and (self.force or self.desired != self.applied)

    def mark_ready(self, message: str) -> None:
        """Ready from now on; logs ``message`` (``"ready: ..."``, saying why) the first time."""
        if not self.ready:
            self.ready = True
            log.info(message)
