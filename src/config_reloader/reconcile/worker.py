"""The reload worker: reloads while ``desired != applied`` or the last attempt failed.

Attempts back off under a :class:`~config_reloader.reload.retry.RetryPolicy`; a newer desired
digest cuts a backoff wait short, so the next attempt reloads the newest content; watching never
waits for retries. An attempt already in flight is *not* cancelled by newer content: cancelling an
HTTP request does not stop the target's reload, and re-sending at once is exactly how a slow
target gets hammered (prometheus-operator#5346). The worker re-checks right after the attempt ends
and reloads again if the content moved meanwhile. Errors are logged once per change of error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TYPE_CHECKING

from config_reloader.errors import ReloadError
from config_reloader.logs import redact_text, redact_values
from config_reloader.reconcile.first import failure_text
from config_reloader.reconcile.options import input_fields
from config_reloader.reload import PerTargetAction

if TYPE_CHECKING:
    from config_reloader.metrics import ReloaderMetrics
    from config_reloader.reconcile.guard import ReadGuard
    from config_reloader.reconcile.options import ReloaderOptions
    from config_reloader.reconcile.source import ChangeSourceProtocol, Clock
    from config_reloader.reconcile.state import LoopState
    from config_reloader.reload import ReloadAction
    from config_reloader.reload.retry import RetryPolicy

__all__ = ["ReloadWorker"]

log = logging.getLogger("config_reloader.reconcile")

CHANGED_SHOWN = 10
"""At most this many changed files are named in the ``reload triggered`` line."""


def _first(paths: list[str], n: int) -> str:
    """``a,b,c`` or, past ``n`` paths, the first ``n`` and ``(+K more)``."""
    shown = ",".join(paths[:n])
    return shown if len(paths) <= n else f"{shown},(+{len(paths) - n} more)"


class ReloadWorker:
    """Runs reload attempts for ``state`` with ``action`` until cancelled (:meth:`run`)."""

    def __init__(
        self,
        state: LoopState,
        action: ReloadAction,
        *,
        options: ReloaderOptions,
        metrics: ReloaderMetrics,
        retry: RetryPolicy,
        rng: random.Random | None,
        clock: Clock,
        source: ChangeSourceProtocol,
        guard: ReadGuard,
        failed_before: str = "",
    ) -> None:
        self._state = state
        self._action = action
        self._options = options
        self._metrics = metrics
        self._retry = retry
        self._rng = rng
        self._clock = clock
        self._source = source
        self._guard = guard
        # An attempt made before the worker existed (reconcile/first.py) failed with this error:
        # the first round goes on from it (attempt 2, that error already logged).
        self._failed_before = failed_before

    async def run(self) -> None:
        s = self._state
        cond = s.cond()
        method = self._action.method
        while True:
            async with cond:
                await cond.wait_for(s.needs_reload)
            delays = self._retry.delays(self._rng)
            first_error: str | None = self._failed_before or None
            attempt = 1 if first_error else 0
            self._failed_before = ""
            last_target: bytes | None = None
            while s.needs_reload():
                target = s.desired
                assert target is not None
                if target != last_target and isinstance(self._action, PerTargetAction):
                    self._action.new_round()  # new content: every target reloads it
                last_target = target
                attempt += 1
                sent_gen = s.desired_gen
                sent_changes = frozenset(s.changes)
                err = await self._attempt()
                if err is None:
                    s.force = False
                    s.applied = target
                    self._reloaded_while_changing(sent_gen)
                    if s.desired_at is not None:
                        s.last_reload_latency = self._clock.monotonic() - s.desired_at
                    if first_error is not None:
                        log.info(
                            "reload succeeded after retries", extra={"attempts": attempt, "method": method}
                        )
                    else:
                        fields = {**input_fields(self._options), "method": method}
                        if sent_changes:
                            fields["changed"] = _first(sorted(sent_changes), CHANGED_SHOWN)
                        log.info("reload triggered", extra=fields)
                    s.changes -= sent_changes
                    s.mark_ready("ready: first reload succeeded")
                    await s.notify()
                    break
                s.force = True
                if first_error is None or err != first_error:
                    if first_error is None:
                        log.error(
                            "reload failed, retrying",
                            extra={"err": err, "attempt": attempt, "method": method},
                        )
                    else:
                        log.warning(
                            "reload still failing, error changed", extra={"err": err, "attempt": attempt}
                        )
                    first_error = err
                await s.notify()
                delay = next(delays)
                log.debug("reload retry scheduled", extra={"delay_s": round(delay, 3), "attempt": attempt})

                # A newer desired digest cuts the wait short (supersede); so does shutdown.
                def superseded(t: bytes = target) -> bool:
                    return s.desired != t

                async with cond:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await cond.wait_for(superseded)

    def _reloaded_while_changing(self, sent_gen: int | None) -> None:
        """After a successful reload: if content changed after its target was read, the service
        may have read a state in between (it reads the files when it reloads, not our snapshot);
        if the files then went back to the target's content, no digest would differ and the
        service would keep that state (found by tests/property: kubelet updates {b} -> {a} while
        the reload for {a} was in flight). The next accepted pass reloads even with unchanged
        content (``force``), once: the pass the pending hints of those changes bring, or, if
        they were all applied while the reload was in flight, a rescan asked for here."""
        s = self._state
        # A reload whose target was read after the earlier changes settles them: clear the flag
        # (else a later pass with the same content would reload once more for nothing).
        s.stale = sent_gen is not None and self._source.change_gen != sent_gen
        if not s.stale:
            return
        if not self._guard.changes_pending(self._source):
            s.pending.rescan = True
            s.pending.reasons.add("changed-during-reload")
            if s.wake is not None:
                s.wake.set()

    async def _attempt(self) -> str | None:
        """One reload attempt under ``reload_timeout``. Returns None on success, else the error text."""
        m = self._metrics
        timeout = self._options.reload_timeout
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with asyncio.timeout(timeout):
                await self._action.trigger()
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            err = (
                f"reload attempt timed out after {timeout:g}s (the target may be slow to reload; backing off)"
            )
        except ReloadError as exc:  # ReloadTimeout, ReloadRejected, TargetNotFound included
            err = failure_text(exc)
        except Exception as exc:  # a bug in an action must not kill the loop
            log.exception("reload action raised an unexpected error")
            err = f"{type(exc).__name__}: {exc}"
        else:
            m.reload_succeeded(loop.time() - start)
            return None
        m.reload_failed(loop.time() - start)
        # Prometheus' answer to a bad config quotes the offending line: it may hold a secret.
        return redact_values(redact_text(err), self._state.secrets)
