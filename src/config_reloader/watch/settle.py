"""Settling raw hints into batches (rule R4 in docs/design.md): pure logic, the clock is injected.

* Trailing-edge debounce: a batch is due ``delay`` seconds after the *last* hint; every hint
  restarts the quiet period.
* A file that received ``IN_MODIFY`` and no ``IN_CLOSE_WRITE`` yet is still being written (a
  truncate-then-write writer has an empty or partial file at that moment: a reader that
  hashes it between the truncate and the write sees an empty file): the batch waits for its close, at most
  ``max_open_wait`` seconds after its first ``IN_MODIFY``; then it is emitted anyway with a warning.
* Urgent hints (overflow, the initial batch) are due at once.

With ``delay=0`` an atomic rename is due immediately and an in-place write as soon as its writer
closes the file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from config_reloader.durations import seconds_problem

__all__ = ["REASONS", "ChangeBatch", "Settler"]

log = logging.getLogger(__name__)

# Most significant first: a batch carries the most significant reason among its hints.
REASONS = ("overflow", "rearm", "initial", "poll", "inotify")


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """A settled set of hints.

    Attributes:
        paths: paths hinted as possibly changed (files or dirs, configured spelling).
        rescan: True = re-snapshot everything (overflow, re-arm, poll tick, start).
        reason: for logs: ``"inotify"``, ``"overflow"``, ``"rearm"``, ``"poll"``, ``"initial"``.
    """

    paths: frozenset[str]
    rescan: bool
    reason: str


class Settler:
    """Accumulates hints; tells when the batch is due; hands it out.

    Args:
        delay: seconds of quiet required after the last hint (``--delay-interval``), >= 0.
        max_open_wait: seconds to wait at most for a writer to close a file, >= 0.
        clock: monotonic seconds (``time.monotonic`` by default; tests pass a fake).
    """

    def __init__(
        self, delay: float, max_open_wait: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        for name, value in (("delay", delay), ("max_open_wait", max_open_wait)):
            problem = seconds_problem(value)
            if problem is not None:
                raise ValueError(f"{name} {problem}")
        self.delay = delay
        self.max_open_wait = max_open_wait
        self._clock = clock
        self._paths: set[str] = set()
        self._rescan = False
        self._urgent = False
        self._reasons: set[str] = set()
        self._pending = False
        self._last = 0.0
        self._open: dict[str, float] = {}  # path -> time of the first IN_MODIFY without close
        self._warned: set[str] = set()
        self.expired: frozenset[str] = frozenset()
        """Paths whose ``max_open_wait`` ran out in the last :meth:`take` (forgotten as writers)."""

    @property
    def pending(self) -> bool:
        return self._pending

    @property
    def open_files(self) -> frozenset[str]:
        """Paths currently believed open for writing."""
        return frozenset(self._open)

    def hint(
        self, path: str | None = None, *, reason: str = "inotify", rescan: bool = False, urgent: bool = False
    ) -> None:
        """Record that ``path`` (or, with ``rescan``, everything) may have changed."""
        if path is not None:
            self._paths.add(path)
        self._rescan = self._rescan or rescan
        self._urgent = self._urgent or urgent
        self._reasons.add(reason)
        self._pending = True
        self._last = self._clock()

    def writing(self, path: str) -> None:
        """``IN_MODIFY`` on ``path``: a writer may still have it open."""
        self._open.setdefault(path, self._clock())

    def closed(self, path: str) -> None:
        """``IN_CLOSE_WRITE`` (or the name went away: ``IN_DELETE``/``IN_MOVED_FROM``)."""
        self._open.pop(path, None)
        self._warned.discard(path)

    def forget_writers(self) -> None:
        """Drop every "open for writing" mark (after an overflow their closes may be lost)."""
        self._open.clear()
        self._warned.clear()

    def due_in(self) -> float | None:
        """Seconds until the pending batch is due (0 = now), or ``None`` if nothing is pending.

        Callers re-ask after every new hint or close: a close can make the batch due earlier.
        """
        if not self._pending:
            return None
        if self._urgent:
            return 0.0
        now = self._clock()
        wait = self._last + self.delay - now
        if self._open:
            limit = min(self._open.values()) + self.max_open_wait - now
            if limit > 0:
                wait = max(wait, limit)
            else:
                for path, since in self._open.items():
                    if since + self.max_open_wait <= now and path not in self._warned:
                        self._warned.add(path)
                        log.warning(
                            "file still open for writing after max_open_wait; emitting the change anyway",
                            extra={"cfg_path": path, "max_open_wait": self.max_open_wait},
                        )
        return max(wait, 0.0)

    def take(self) -> ChangeBatch:
        """Return the pending batch and reset (writers whose wait expired are forgotten)."""
        reason = next((r for r in REASONS if r in self._reasons), min(self._reasons, default="inotify"))
        batch = ChangeBatch(paths=frozenset(self._paths), rescan=self._rescan, reason=reason)
        now = self._clock()
        expired = [p for p, since in self._open.items() if since + self.max_open_wait <= now]
        for path in expired:
            del self._open[path]
            self._warned.discard(path)
        self.expired = frozenset(expired)
        self._paths = set()
        self._rescan = False
        self._urgent = False
        self._reasons = set()
        self._pending = False
        return batch
