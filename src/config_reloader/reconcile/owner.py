"""The owner task of the loop: turns hints into apply passes and sets the desired digest.

Each pass reads the inputs (:class:`~config_reloader.reconcile.apply.Applier`, in a worker
thread), asks the :class:`~config_reloader.reconcile.guard.ReadGuard` whether the read may have met
a write (then the pass is discarded and its paths go to the next one), writes the output and
publishes the desired digest to the :class:`~config_reloader.reconcile.state.LoopState`, where
the reload worker picks it up. A pass runs on hints, when a held file's bound runs out, and every
``watch_interval`` (a full rescan). A render or validate failure keeps the previous output and
desired digest (nothing is reloaded with content that could not be rendered) and is logged once
per distinct error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from config_reloader.errors import ConfigReloaderError, EnvExpansionError, ValidationFailed
from config_reloader.reconcile.apply import error_fields
from config_reloader.watch.digests import FileDigests, moved

if TYPE_CHECKING:
    from config_reloader.metrics import ReloaderMetrics
    from config_reloader.reconcile.apply import Applier
    from config_reloader.reconcile.guard import ReadGuard
    from config_reloader.reconcile.options import ReloaderOptions
    from config_reloader.reconcile.source import ChangeSourceProtocol, Clock, Pending
    from config_reloader.reconcile.state import LoopState
    from config_reloader.render import Rendered
    from config_reloader.watch.settle import ChangeBatch
    from config_reloader.watch.snapshot import Snapshot

__all__ = ["ApplyOwner"]

log = logging.getLogger("config_reloader.reconcile")


class ApplyOwner:
    """Applies on hints; the only writer of ``state.desired`` (see the module docstring).

    Attributes:
        last_rendered: the rendered output of the last accepted pass (``None`` before).
        last_snapshot: the snapshot of the last accepted pass (``None`` before).
    """

    def __init__(
        self,
        options: ReloaderOptions,
        state: LoopState,
        applier: Applier,
        guard: ReadGuard,
        metrics: ReloaderMetrics,
        clock: Clock,
    ) -> None:
        self._options = options
        self._state = state
        self._applier = applier
        self._guard = guard
        self._metrics = metrics
        self._clock = clock
        self._apply_error: str | None = None  # last apply error message (log once per change)
        self._adopt_next = False
        self.last_rendered: Rendered | None = None
        self.last_snapshot: Snapshot | None = None
        self._first_files: Mapping[str, bytes] | None = None

    def seed(self, snapshot: Snapshot, rendered: Rendered | None) -> None:
        """Start from a reload done before the loop (:mod:`~config_reloader.reconcile.first`):
        ``snapshot`` and ``rendered`` are what it read. The first accepted pass reloads once
        more if any file was written since, even when the content is the same again."""
        self.last_snapshot = snapshot
        self.last_rendered = rendered
        self._first_files = snapshot.files

    async def render_once(self) -> Snapshot:
        """Read and write the output once, no guard, no reload; sets ``desired``.

        Raises:
            RenderError / AtomicWriteError / OSError: the output could not be rendered.
        """
        desired, rendered, snap = await asyncio.to_thread(self._applier.read, None)
        if rendered is not None:
            await asyncio.to_thread(self._applier.write, rendered)
        self._state.desired = desired
        self.last_snapshot = snap
        if rendered is not None:
            self._accepted(rendered)
        return snap

    def _accepted(self, rendered: Rendered) -> None:
        """Record an accepted render (both modes: init mode warns exactly like watch mode):
        unset ``$(VAR)`` references and an empty output are a warning line and a metric each."""
        from config_reloader.reconcile.apply import warn_about

        m = self._metrics
        self.last_rendered = rendered
        self._state.secrets = rendered.expanded_values
        m.config_environment_variable_expansion_errors.set(len(rendered.unset_vars))
        m.config_empty.set(1 if warn_about(rendered, self._options, log) else 0)

    async def pump(self, source: ChangeSourceProtocol) -> None:
        """Move settled batches from ``source`` into the pending hints and wake the owner."""
        pending, wake = self._state.pending, self._state.wake
        assert wake is not None
        batch: ChangeBatch
        async for batch in source:
            if batch.rescan:
                pending.rescan = True
            pending.paths.update(batch.paths)
            pending.reasons.add(batch.reason)
            wake.set()

    async def own(self, source: ChangeSourceProtocol, *, initial_reload: bool) -> None:
        """The owner task: apply on hints and every ``watch_interval``, until cancelled.

        Args:
            initial_reload: False = adopt the first accepted content as applied (the target was
                started with it) instead of reloading it.
        """
        s = self._state
        wake = s.wake
        assert wake is not None
        loop = asyncio.get_running_loop()
        self._adopt_next = not initial_reload and s.applied is None
        if self._adopt_next and s.desired is not None:
            # render_once() already produced the content the target was started with.
            self._adopt_next = False
            s.applied = s.desired
            s.mark_ready("ready: the target was started with the rendered content")
        # A discarded (raced) initial pass keeps _adopt_next: the first pass that counts adopts.
        await self._apply(None, reason="initial", source=source)
        next_resync = loop.time() + self._options.watch_interval
        while True:
            deadline = next_resync
            hold = self._guard.hold_deadline
            if hold is not None:
                # An emptied file held back (see ReadGuard): look again when its bound runs out.
                bound = source.max_open_wait
                deadline = min(deadline, loop.time() + max(0.0, hold + bound - self._clock.monotonic()))
            timeout = max(0.0, deadline - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await wake.wait()
            wake.clear()
            # The source may have fallen back to polling (inotify limits) or re-armed watches.
            self._metrics.watches.set(int(source.watches))
            self._metrics.set_watch_mode(source.mode)
            pending: Pending = s.pending.take()
            if self._guard.hold_expired(source):
                pending.paths.update(self._guard.held)
                pending.reasons.add("held")
            if loop.time() >= next_resync:
                pending.rescan = True
                pending.reasons.add("resync")
            if not pending:
                continue
            if pending.rescan:
                next_resync = loop.time() + self._options.watch_interval
            hinted = None if pending.rescan else sorted(pending.paths)
            await self._apply(hinted, reason=",".join(sorted(pending.reasons)) or "hint", source=source)

    async def _apply(
        self, hinted: Sequence[str] | None, *, reason: str, source: ChangeSourceProtocol
    ) -> bool:
        """One apply pass; updates ``desired``. Returns False (logged once, counted) on failure.

        If the read-consistency guard discards the pass (more changes arrived while the files
        were read), nothing is written, logged or reloaded: the next batch applies again.
        """
        m = self._metrics
        s = self._state
        if reason != "initial":  # Thanos counts the passes of its watch loop, not the initial one
            m.config_apply_operations.inc()
        mark = source.mark()
        read_gen = source.change_gen
        try:
            read = await asyncio.to_thread(self._applier.read, hinted)
            desired, rendered, snap = read
            if await self._guard.discard(
                source, mark, hinted, read, new_content=desired != s.desired, reason=reason
            ):
                return True
            if rendered is not None:
                await asyncio.to_thread(self._applier.write, rendered)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # expected: ConfigReloaderError, OSError; anything else is a bug
            self._apply_failed(exc, hinted, reason=reason, source=source, mark=mark)
            return False
        if self._apply_error is not None:
            self._apply_error = None
            log.info("apply succeeded again", extra={"reason": reason})
        if desired != s.desired:
            s.changes.update(self._changed_paths(rendered, snap))
        first, self._first_files = self._first_files, None
        if first is not None and desired == s.applied and not s.force and moved(first, snap.files):
            # The target read the files during the first reload, maybe in the state in between;
            # set before the digest is published, so no waiter sees this pass as settled.
            log.info(
                "files were written while the first reload was in flight: reloading again",
                extra={"reason": reason},
            )
            s.force = True
            m.reloads_repeated.inc()
        self.last_snapshot = snap
        if rendered is not None:
            self._accepted(rendered)
        if desired != s.desired:
            s.desired = desired
            s.desired_at = self._clock.monotonic()
            if self._adopt_next:
                # ``run(initial_reload=False)``: the target was started with this content.
                self._adopt_next = False
                s.applied = desired
                s.changes.clear()
                s.mark_ready("ready: the target was started with the rendered content")
            if log.isEnabledFor(logging.DEBUG):
                log.debug("content changed", extra={"digest": desired.hex()[:16], "reason": reason})
            await s.notify()
        s.desired_gen = read_gen
        if s.stale:
            s.stale = False
            if desired == s.applied and not s.force:
                log.info(
                    "content changed while the last reload was in flight: reloading again",
                    extra={"reason": reason},
                )
                s.force = True
                m.reloads_repeated.inc()
                await s.notify()
        self._adopt_next = False
        return True

    def _apply_failed(
        self,
        exc: Exception,
        hinted: Sequence[str] | None,
        *,
        reason: str,
        source: ChangeSourceProtocol,
        mark: int | None,
    ) -> None:
        """A pass that raised: discarded if files changed meanwhile, else counted and logged once."""
        m = self._metrics
        raced = self._guard.raced(source, str(exc), mark)
        self._state.pending.requeue(hinted)  # after raced(): pending paths there mean "changed meanwhile"
        if raced:
            log.debug("apply failed while files changed; applying again", extra={"err": str(exc)})
            return
        if reason != "initial":
            m.config_apply_operations_failed.inc()
        if isinstance(exc, EnvExpansionError):
            m.config_environment_variable_expansion_errors.set(len(exc.names))
        if isinstance(exc, ValidationFailed):
            m.config_validation_failures.inc()
        msg = str(exc)
        if msg != self._apply_error:
            self._apply_error = msg
            fields = {**error_fields(exc), "reason": reason, "cfg_in": self._options.config_file}
            # Before the first accepted pass this process has written no output to keep.
            log.error(
                "apply failed: previous output kept, no reload"
                if self.last_snapshot is not None
                else "apply failed: no output written yet, no reload",
                extra=fields,
                exc_info=not isinstance(exc, ConfigReloaderError | OSError),
            )
        self._adopt_next = False

    def _changed_paths(self, rendered: Rendered | None, snap: Snapshot) -> set[str]:
        """Inputs whose content differs from the last accepted pass (added, changed or gone);
        empty before the first accepted pass."""
        previous = self.last_snapshot
        if previous is None:
            return set()
        old, new = previous.files, snap.files
        if isinstance(new, FileDigests) and isinstance(old, FileDigests):
            changed = new.changed_since(old)  # untouched directories are skipped unread
        else:
            changed = {p for p, digest in new.items() if old.get(p) != digest}
            changed.update(p for p in old if p not in new)
        cfg = self._options.config_file
        before = self.last_rendered
        if rendered is not None and cfg is not None:
            if before is None or before.source_digest != rendered.source_digest:
                changed.add(cfg)
            changed.discard(self._options.config_envsubst_file or "")  # our own output
        return changed
