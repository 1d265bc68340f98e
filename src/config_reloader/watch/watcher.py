"""ChangeSource: directory watches, re-arming, overflow rescans and the polling fallback.

Events are hints, never facts (rule R1 in docs/design.md): this module turns raw inotify events into
"path P may have changed" / "rescan everything" hints and hands them to the :class:`Settler`; it
never reads file contents. See docs/watch-internals.md for the whole story. In short:

* every watched dir, and the parent dir of every config file, gets one non-recursive watch
  (a file watch dies on the first atomic replacement: rule R2 in docs/design.md);
* in a config file's parent only the file's own name and kubelet's ``..*`` names are hints; in a
  watched dir every name is;
* a watched path that is a symlink also gets a watch on its parent, so a swap of the link
  (``ln -sfn`` = rename of a new link over it) re-arms the watch onto the new target;
* a missing path is replaced by a watch on its nearest existing ancestor; when the next path
  component appears, or a watch is dropped (``IN_IGNORED``, ``IN_DELETE_SELF``, ``IN_MOVE_SELF``,
  ``IN_UNMOUNT``), every watch is recomputed and a rescan batch follows (events before the new
  watch existed are lost);
* ``IN_Q_OVERFLOW`` or a read error: immediate rescan batch;
* ``InotifyLimitError`` (EMFILE on init, ENOSPC on add) or ``force_polling``: poll by stat-ing the
  watched paths every ``poll_interval`` seconds, with one warning naming the sysctl.

Parts: where the watches go (``plan.py``), which paths an event hints at (``route.py``), what is
known of writers (``writers.py``), the polling fallback (``poll.py``), debouncing (``settle.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Literal

from config_reloader.atomic import temp_prefix
from config_reloader.durations import seconds_problem
from config_reloader.errors import InotifyLimitError
from config_reloader.fileid import FileIdentity
from config_reloader.watch.ignore import PathFilter, keep_all
from config_reloader.watch.inotify import (
    IN_Q_OVERFLOW,
    Inotify,
    InotifyEvent,
)
from config_reloader.watch.plan import (
    WATCH_MASK,
    Role,
    arm_watches,
)
from config_reloader.watch.poll import poll_loop, poll_signature
from config_reloader.watch.route import route_event
from config_reloader.watch.settle import ChangeBatch, Settler
from config_reloader.watch.writers import Writers

__all__ = ["DEFAULT_POLL_INTERVAL", "WATCH_MASK", "ChangeBatch", "ChangeSource"]

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 1.0


class ChangeSource:
    """Settled change hints for config ``files`` and watched ``dirs``; an async context manager.

    Usage::

        async with ChangeSource(["/etc/app/app.yaml"], ["/etc/app/rules"], delay=1.0) as source:
            async for batch in source:      # first batch: rescan=True, reason="initial"
                snapshot = snapshotter.snapshot(None if batch.rescan else batch.paths)

    Args:
        files: config files (their parent dir is watched, filtered by name; may not exist yet).
        dirs: watched dirs (non-recursive watches, like Thanos; may not exist yet).
        delay: seconds of quiet after the last hint before a batch (``--delay-interval``).
        max_open_wait: seconds a batch may wait for a writer to close a file it modified.
        poll_interval: seconds between polls in poll mode (``None`` = 1 s).
        force_polling: never use inotify.
        on_event: called with ``"event"`` for every raw event, ``"overflow"`` for
            ``IN_Q_OVERFLOW``, ``"error"`` for watcher errors (the reconciler counts them).
        inotify_factory: builds the :class:`Inotify` (a seam for tests: raise
            ``InotifyLimitError`` to exercise the polling fallback).
        path_filter: ``(path) -> bool``, False = ignore events on that name in a watched dir
            (writers' temp files, editor backups: :mod:`config_reloader.watch.ignore`); give the
            same filter to the :class:`Snapshotter`. Config files are never filtered. ``None`` =
            keep everything.
        own_paths: files this process writes itself (the rendered output in a watched dir),
            with their :func:`~config_reloader.atomic.atomic_write` temp files: still hinted,
            but their events do not move :attr:`change_gen`.

    Attributes:
        mode: ``"inotify"`` or ``"poll"`` (valid once entered).
        watches: current number of inotify watches (poll mode: number of polled roots).
    """

    def __init__(
        self,
        files: Sequence[str],
        dirs: Sequence[str],
        *,
        delay: float,
        max_open_wait: float = 5.0,
        poll_interval: float | None = None,
        force_polling: bool = False,
        on_event: Callable[[str], None] | None = None,
        inotify_factory: Callable[[], Inotify] = Inotify,
        path_filter: PathFilter | None = None,
        own_paths: Sequence[str] = (),
    ) -> None:
        self.path_filter: PathFilter = keep_all if path_filter is None else path_filter
        self._own_paths = frozenset(os.path.abspath(p) for p in own_paths)
        self.files = tuple(dict.fromkeys(os.path.abspath(f) for f in files))
        self.dirs = tuple(dict.fromkeys(os.path.abspath(d) for d in dirs))
        self.poll_interval = DEFAULT_POLL_INTERVAL if poll_interval is None else poll_interval
        problem = seconds_problem(self.poll_interval, positive=True)
        if problem is not None:
            raise ValueError(f"poll_interval {problem}")
        self.force_polling = force_polling
        self.mode: Literal["inotify", "poll"] = "poll" if force_polling else "inotify"
        self.watches = 0
        self._settler = Settler(delay, max_open_wait)
        self._on_event = on_event or (lambda kind: None)
        self._factory = inotify_factory
        self._ino: Inotify | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wd_roles: dict[int, list[Role]] = {}
        self._wake = asyncio.Event()
        self._poll_task: asyncio.Task[None] | None = None
        self._missing_task: asyncio.Task[None] | None = None
        # Set while some watched path is missing (an "ancestor" watch stands in for it): only
        # then does the re-plan loop tick, so an idle watcher has no timer wake-ups at all.
        self._missing = asyncio.Event()
        self._closed = False
        self._writers = Writers(self._settler)
        # Bumped on every hint that may change content (not IN_ATTRIB alone): see change_gen.
        self._change_gen = 0

    # --- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> ChangeSource:
        self._loop = asyncio.get_running_loop()
        if self.force_polling:
            log.info("polling for changes (forced)", extra={"poll_interval": self.poll_interval})
            self._start_polling()
        else:
            try:
                self._ino = self._factory()
                self._rearm()
                self._loop.add_reader(self._ino.fileno(), self._on_readable)
                self._missing_task = self._loop.create_task(
                    self._missing_loop(), name="config-reloader-missing-paths"
                )
            except InotifyLimitError as exc:
                self._fall_back(exc)
            except OSError as exc:
                # No inotify at all (ENOSYS in some sandboxes, a seccomp filter): poll instead.
                self._fall_back(exc)
        self._hint_rescan("initial", urgent=True)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop watching (idempotent): remove the reader, close the fd, stop the poller."""
        self._closed = True
        self._stop_inotify()
        if self._missing_task is not None:
            self._missing_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._missing_task
            self._missing_task = None
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
            self._poll_task = None
        self._wake.set()

    def __aiter__(self) -> AsyncIterator[ChangeBatch]:
        return self

    async def __anext__(self) -> ChangeBatch:
        while not self._closed:
            due = self._settler.due_in()
            if due is not None and due <= 0:
                batch = self._settler.take()
                for path in self._settler.expired:
                    # The bound ran out: whatever is there now counts as the writer's result.
                    self._writers.finished_now(path)
                return batch
            self._wake.clear()
            if due is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due):
                        await self._wake.wait()
        raise StopAsyncIteration

    def drain(self) -> bool:
        """Process the events the kernel has already queued, without waiting; True if hints are
        pending, i.e. something changed after the last batch was handed out and another batch
        will follow.

        Call it right after snapshotting a batch: a file created or modified *while* the snapshot
        read it (a vim-style save racing a ``delay=0`` batch) has its event queued before the
        snapshot saw the file, so a True answer means "this snapshot may show a half-written file:
        do not act on it, the next batch re-snapshots". False is strong but not absolute: the
        kernel queues an event just *after* its change is visible (a truncate is seen a moment
        before its IN_MODIFY), so a careful caller drains once more a few ms later before acting
        (the reconciler does).
        """
        if self._ino is not None and not self._ino.closed:
            self._on_readable()
        return self._settler.pending

    @property
    def open_files(self) -> frozenset[str]:
        """Paths believed open for writing now (modified or created, not closed yet); call
        :meth:`drain` first for an up-to-date answer."""
        return self._settler.open_files

    tracks_finished = True
    """:meth:`finished_identity` answers (this source sees writers finish)."""

    @property
    def max_open_wait(self) -> float:
        """Seconds a batch waits at most for a writer to close a file it modified."""
        return self._settler.max_open_wait

    def mark(self) -> int:
        """Drain, then return an opaque mark to pass to :meth:`writes_since` after a read."""
        self.drain()
        return self._writers.gen

    def writes_since(self, mark: int) -> bool:
        """Drain; True if a file may have been written in place since :meth:`mark` returned
        ``mark`` (an ``IN_MODIFY``, a created file, an overflow/re-arm/poll hint), or if any file
        is open for writing now. A read made after the mark may then show a truncated or partial
        file. Renames, deletes and attribute changes (touch, chmod) do not count: they never
        expose a partial file. Events lag their change (a truncate is visible just before its
        ``IN_MODIFY`` is queued), so a caller about to act on new content asks again a few ms
        later (the reconciler waits ``RACE_RECHECK``).
        """
        self.drain()
        return self._writers.gen != mark or bool(self._settler.open_files)

    @property
    def change_gen(self) -> int:
        """Drain; an opaque generation, bumped on every hint that may change what a reader of the
        watched files sees (anything but ``IN_ATTRIB`` alone; overflow, re-arm and poll hints
        too). Equal values at two moments mean no such change was seen in between."""
        self.drain()
        return self._change_gen

    def finished_identity(self, path: str) -> FileIdentity | None:
        """Identity :func:`file_identity` of ``path`` (hint spelling) when a writer was last seen
        finished with it: stat'ed on its ``IN_CLOSE_WRITE`` or ``IN_MOVED_TO``, or when
        ``max_open_wait`` ran out. ``None`` = no such moment seen (or the name went away).

        A read whose identity equals it shows exactly what that writer left; a different one
        (e.g. the file emptied in place, its ``IN_MODIFY`` not queued yet) may be mid-write.
        """
        return self._writers.finished_identity(path)

    def _is_own(self, path: str) -> bool:
        """``path`` is one of ``own_paths`` or the temp file :func:`atomic_write` uses for it."""
        if not self._own_paths:
            return False
        if path in self._own_paths:
            return True
        d, name = os.path.split(path)
        return name.endswith(".tmp") and any(
            os.path.dirname(p) == d and name.startswith(temp_prefix(p)) for p in self._own_paths
        )

    # --- hints ----------------------------------------------------------------------------------
    def _hint(self, path: str, reason: str = "inotify", *, content: bool = True) -> None:
        if content:
            self._change_gen += 1
        self._settler.hint(path, reason=reason)
        self._wake.set()

    def _hint_rescan(self, reason: str, *, urgent: bool = False) -> None:
        self._writers.unknown_change()
        self._change_gen += 1
        self._settler.hint(None, reason=reason, rescan=True, urgent=urgent)
        self._wake.set()

    # --- inotify --------------------------------------------------------------------------------
    def _rearm(self) -> bool:
        """(Re)compute every watch; True if the set of watched inodes or roles changed.

        Raises:
            InotifyLimitError: ENOSPC while adding a watch (the caller falls back to polling).
        """
        assert self._ino is not None
        old = self._wd_roles
        new = arm_watches(self._ino, self.files, self.dirs, old, on_error=lambda: self._on_event("error"))
        self._wd_roles = {wd: list(roles) for wd, roles in new.items()}
        self.watches = len(self._wd_roles)
        if any(r.kind == "ancestor" for roles in self._wd_roles.values() for r in roles):
            self._missing.set()
        else:
            self._missing.clear()
        changed = old != self._wd_roles
        if changed:
            log.debug("watches armed", extra={"watches": self.watches})
        return changed

    def _on_readable(self) -> None:
        try:
            self._handle_readable()
        except InotifyLimitError as exc:
            self._fall_back(exc)
        except Exception:
            # Never let a watcher bug kill the loop: count it, rescan, keep going.
            self._on_event("error")
            log.exception("watcher error; rescanning")
            self._hint_rescan("overflow", urgent=True)

    def _handle_readable(self) -> None:
        if self._ino is None:
            return
        try:
            events = self._ino.read_events()
        except OSError as exc:
            self._on_event("error")
            log.warning("reading inotify events failed; rescanning", extra={"err": str(exc)})
            self._hint_rescan("overflow", urgent=True)
            return
        need_rearm = False
        for ev in events:
            self._on_event("event")
            need_rearm |= self._handle_event(ev)
        if need_rearm and self._ino is not None and self._rearm():
            self._hint_rescan("rearm")

    def _handle_event(self, ev: InotifyEvent) -> bool:
        """Turn one event into hints; True if the watches must be recomputed."""
        if ev.mask & IN_Q_OVERFLOW:
            self._on_event("overflow")
            self._settler.forget_writers()  # their IN_CLOSE_WRITE may be among the lost events
            log.warning("inotify queue overflowed (fs.inotify.max_queued_events); rescanning everything")
            self._hint_rescan("overflow", urgent=True)
            return True
        roles = self._wd_roles.get(ev.wd)
        if not roles:
            return False
        hints, rearm = route_event(ev.mask, ev.name, roles, self.path_filter, self._is_own)
        for h in hints:
            if h.writer:
                self._writers.event(h.path, ev.mask)
            self._hint(h.path, content=h.content)
        return rearm

    async def _missing_loop(self) -> None:
        """While a watched path is missing, re-plan every ``poll_interval`` seconds.

        Its ancestor's watch catches the usual appearance (mkdir, rename into place), but not a
        dangling symlink whose target appears elsewhere, nor a creation that raced the re-arm.
        """
        while self._ino is not None:
            await self._missing.wait()
            await asyncio.sleep(self.poll_interval)
            if self._ino is None:
                return
            if not self._missing.is_set():
                continue
            try:
                if self._rearm():
                    self._hint_rescan("rearm")
            except InotifyLimitError as exc:
                self._fall_back(exc)
                return
            except Exception:
                self._on_event("error")
                log.exception("re-arming watches failed")

    def _stop_inotify(self) -> None:
        if self._ino is not None:
            if self._loop is not None and not self._ino.closed:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._ino.fileno())
            self._ino.close()
            self._ino = None
        self._wd_roles = {}
        if self.mode == "inotify":
            self.watches = 0

    # --- polling --------------------------------------------------------------------------------
    def _fall_back(self, exc: OSError | InotifyLimitError) -> None:
        self._stop_inotify()
        self._on_event("error")
        if isinstance(exc, InotifyLimitError):
            log.warning(
                "inotify limit reached; falling back to polling, raise the sysctl to get inotify back",
                extra={"sysctl": exc.sysctl, "poll_interval": self.poll_interval, "err": str(exc)},
            )
        else:
            log.warning(
                "inotify unavailable; falling back to polling",
                extra={"poll_interval": self.poll_interval, "err": str(exc)},
            )
        self._start_polling()
        self._hint_rescan("poll", urgent=True)

    def _start_polling(self) -> None:
        self.mode = "poll"
        self.watches = len(self.files) + len(self.dirs)
        if self._poll_task is None and self._loop is not None:
            self._poll_task = self._loop.create_task(self._poll_loop(), name="config-reloader-poll")

    async def _poll_loop(self) -> None:
        await poll_loop(
            lambda: poll_signature(self.files, self.dirs, self.path_filter),
            self.poll_interval,
            changed=self._polled,
            failed=self._poll_failed,
        )

    def _polled(self, changed: list[str]) -> None:
        for path in changed:
            self._settler.hint(path, reason="poll")
            self._writers.forget(path)  # no close signal in poll mode
        self._hint_rescan("poll")

    def _poll_failed(self) -> None:
        self._on_event("error")
        log.exception("polling failed; rescanning")
        self._hint_rescan("poll")
