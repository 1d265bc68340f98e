"""What the loop needs from its change source and its clock, as typed interfaces.

:class:`ChangeSourceProtocol` is the interface of
:class:`~config_reloader.watch.watcher.ChangeSource` that the loop and the read-consistency guard
use; :class:`ScriptedChangeSource` is a neutral base for sources that see no writers (scripted
sources in tests): no write tracking, no finished writers, nothing open.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from config_reloader.fileid import FileIdentity
    from config_reloader.watch.watcher import ChangeBatch

__all__ = [
    "ChangeSourceFactory",
    "ChangeSourceProtocol",
    "Clock",
    "Pending",
    "ScriptedChangeSource",
    "SystemClock",
]


class Clock(Protocol):
    """Time source: ``monotonic()`` for latencies, ``time()`` (Unix seconds) for timestamps."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class SystemClock:
    """:func:`time.monotonic` and :func:`time.time`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


class ChangeSourceProtocol(Protocol):
    """A source of settled change hints, used as ``async with source: async for batch in source``.

    The members past iteration let the loop prove that a read of the files saw finished writes
    (see :mod:`config_reloader.reconcile.guard`); a source that cannot tell answers neutrally
    (``mark() -> None``, ``tracks_finished = False``, nothing open).
    """

    @property
    def mode(self) -> str:
        """``"inotify"`` or ``"poll"`` (exported as a metric; may change at run time)."""
        ...

    @property
    def watches(self) -> int:
        """Number of live watches (exported as ``reloader_watches``)."""
        ...

    @property
    def max_open_wait(self) -> float:
        """Seconds a batch waits at most for a writer to close a file it modified."""
        ...

    @property
    def change_gen(self) -> int | None:
        """An opaque generation bumped on every change a reader may see; ``None`` = not tracked."""
        ...

    @property
    def open_files(self) -> Collection[str]:
        """Paths believed open for writing now."""
        ...

    @property
    def tracks_finished(self) -> bool:
        """True if :meth:`finished_identity` answers (the source sees writers finish)."""
        ...

    def drain(self) -> bool:
        """Process queued events now; True if hints are pending that no batch delivered yet."""
        ...

    def mark(self) -> int | None:
        """A mark to pass to :meth:`writes_since` after a read; ``None`` = writes not tracked."""
        ...

    def writes_since(self, mark: int) -> bool:
        """True if a file may have been written in place since :meth:`mark` returned ``mark``."""
        ...

    def finished_identity(self, path: str) -> FileIdentity | None:
        """Identity of ``path`` when a writer was last seen finished with it (``None``: not seen)."""
        ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def __aiter__(self) -> AsyncIterator[ChangeBatch]: ...


ChangeSourceFactory = Callable[..., ChangeSourceProtocol]
"""Builds a change source, called like ``ChangeSource(files, dirs, delay=..., poll_interval=...,
force_polling=..., on_event=..., path_filter=..., own_paths=...)``."""


class ScriptedChangeSource:
    """Neutral answers for the non-iteration members of :class:`ChangeSourceProtocol`: a base for
    sources that deliver batches but see no writers. Subclasses implement iteration (and the
    context manager when they hold resources)."""

    mode: str = "inotify"
    watches: int = 0
    max_open_wait: float = 5.0
    change_gen: int | None = None
    open_files: Collection[str] = frozenset()
    tracks_finished: bool = False

    def drain(self) -> bool:
        return False

    def mark(self) -> int | None:
        return None

    def writes_since(self, mark: int) -> bool:
        return False

    def finished_identity(self, path: str) -> FileIdentity | None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@dataclass(slots=True)
class Pending:
    """Hints not looked at yet: paths, a full rescan, and why (for the logs)."""

    paths: set[str] = field(default_factory=set)
    rescan: bool = False
    reasons: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return self.rescan or bool(self.paths)

    def take(self) -> Pending:
        """Return the hints so far and start empty."""
        taken = Pending(self.paths, self.rescan, self.reasons)
        self.paths, self.rescan, self.reasons = set(), False, set()
        return taken

    def requeue(self, hinted: Collection[str] | None) -> None:
        """Carry the paths of a pass that did not apply (``None``: it was a rescan) into the next."""
        if hinted is None:
            self.rescan = True
        else:
            self.paths.update(hinted)
