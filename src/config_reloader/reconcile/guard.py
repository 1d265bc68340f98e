"""The read-consistency guard: is what one apply pass read what finished writers left?

A pass reads the inputs while writers may be at work. :meth:`ReadGuard.discard` says whether a
pass must be thrown away (nothing written, logged or reloaded; its paths go to the next pass):

* *raced*: more hints arrived while the pass read the files (``drain()``), or a file may have been
  written in place since the pass's ``mark()`` (``writes_since``); two raced passes in a row with
  the same outcome are accepted when no in-place write can be involved;
* *unproven* new content waits ``RACE_RECHECK`` for a lagging event, unless every changed file is
  proven settled (identity equals what the source saw a writer finish with, and a read lease
  shows nobody has it open);
* *held*: an input read empty that was not empty before, or open for writing right now, is held
  back until its writer's close (bounded by the source's ``max_open_wait``).

The guard owns its state: the last discarded outcome, the last accepted read, and the held files.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from config_reloader.fileid import file_identity
from config_reloader.watch.lease import probe_writers
from config_reloader.watch.snapshot import KUBELET_DATA, FileDigests

if TYPE_CHECKING:
    from config_reloader.fileid import FileIdentity
    from config_reloader.reconcile.source import ChangeSourceProtocol, Clock, Pending
    from config_reloader.render import Rendered
    from config_reloader.watch.snapshot import Snapshot

__all__ = ["RACE_RECHECK", "SETTLE_PROBES", "ReadGuard"]

log = logging.getLogger("config_reloader.reconcile")

RACE_RECHECK = 0.005
"""Seconds to wait before acting on new content, for a racing write's event to be queued
(events are queued right after the change is visible; see :meth:`ReadGuard.discard`)."""
SETTLE_PROBES = 256
"""At most this many changed files are proven settled by a read lease in one pass; a pass with
more (a kubelet swap of a large ConfigMap) waits ``RACE_RECHECK`` instead."""
EMPTY_SHA256 = hashlib.sha256(b"").digest()


def _kubelet_projection(path: str) -> bool:
    """True if ``path`` is a kubelet AtomicWriter projection: a symlink ``name -> ..data/name``."""
    try:
        target = os.readlink(path)
    except OSError:
        return False
    return target.startswith(KUBELET_DATA + os.sep)


class ReadGuard:
    """Decides which apply passes are discarded; see the module docstring.

    Args:
        config_file: the config file (``ReloaderOptions.config_file``), or None.
        pending: the loop's pending hints (hints there mean "changed since the read").
        clock: monotonic time for the hold bound.
    """

    def __init__(self, config_file: str | None, pending: Pending, clock: Clock) -> None:
        self._config_file = config_file
        self._pending = pending
        self._clock = clock
        self._raced_outcome: bytes | str | None = None  # outcome of the last discarded (raced) pass
        self._repeat_accepted = False  # the last pass raced but repeated the previous raced read
        # The last accepted pass: its snapshot's files (a view of that moment, O(dirs) to keep),
        # the config file's digest and identity when rendered: to tell "emptied" (_emptied).
        self._accepted_files: Mapping[str, bytes] | None = None
        self._accepted_input: tuple[bytes, FileIdentity | None] | None = None
        # Emptied files held back: path -> (identity read, monotonic time first held).
        self._held: dict[str, tuple[FileIdentity | None, float]] = {}

    # -- what the loop asks ----------------------------------------------------------------------
    @property
    def held(self) -> Sequence[str]:
        """Paths held back now (sorted)."""
        return sorted(self._held)

    @property
    def hold_deadline(self) -> float | None:
        """Monotonic time the oldest hold started (the loop looks again ``max_open_wait`` later)."""
        if not self._held:
            return None
        return min(since for _, since in self._held.values())

    def hold_expired(self, source: ChangeSourceProtocol) -> bool:
        """True if a hold has lasted ``max_open_wait``: the held files go into the next pass."""
        hold = self.hold_deadline
        return hold is not None and self._clock.monotonic() >= hold + source.max_open_wait

    def changes_pending(self, source: ChangeSourceProtocol) -> bool:
        """True if hints arrived that no pass has looked at yet. ``drain()`` processes the
        kernel's queued events now; a batch the pump already handed over (the owner has not
        taken it yet) means the same."""
        return source.drain() or bool(self._pending)

    async def discard(
        self,
        source: ChangeSourceProtocol,
        mark: int | None,
        hinted: Sequence[str] | None,
        read: tuple[bytes, Rendered | None, Snapshot],
        *,
        new_content: bool,
        reason: str,
    ) -> bool:
        """True if the pass that read ``read`` (desired, rendered, snapshot) after ``mark`` must
        be discarded; False = accepted (and remembered as the last accepted read).

        ``new_content``: the desired digest differs from the current one (only new content needs
        a proof or the ``RACE_RECHECK`` wait). A discarded pass's paths are requeued.
        """
        desired, rendered, snap = read
        raced = self.raced(source, desired, mark)
        held: dict[str, FileIdentity | None] = {}
        if not raced and new_content:
            settled, held = self._prove(rendered, snap, source, hinted)
            if not settled and not held:
                # The kernel queues a write's event just *after* the write is visible (a
                # truncate, then IN_MODIFY): a read inside that gap sees no event yet. Before
                # acting on content nothing vouches for (also content read twice: both reads
                # may sit in such gaps), give such an event a moment to arrive.
                repeat = self._repeat_accepted
                await asyncio.sleep(RACE_RECHECK)
                raced = self._torn(source, mark) if repeat else self.raced(source, desired, mark)
        if not raced:
            held.update(self._emptied(rendered, snap, source, hinted))
            raced = self._hold(held, source)
            if raced:
                log.debug(
                    "input open for writing or emptied in place; waiting for its writer's close",
                    extra={"cfg_path": ",".join(sorted(self._held)), "reason": reason},
                )
        if raced:
            log.debug("changes arrived while applying; applying again", extra={"reason": reason})
            self._pending.requeue(hinted)
            return True
        self._held = {}
        self._accepted_files = snap.files
        if rendered is not None:
            self._accepted_input = (rendered.source_digest, rendered.source_identity)
        return False

    def raced(self, source: ChangeSourceProtocol, outcome: bytes | str, mark: int | None = None) -> bool:
        """True if more hints arrived while the apply read the files (``drain()``), or if a file
        may have been written in place since ``mark`` (``mark()`` taken before the read;
        ``writes_since``): the snapshot/render may show a half-written file, so it is neither
        written nor reloaded; the next batch applies again.

        ``outcome`` is the pass's desired digest (or its error text). Two raced passes in a row
        with the same outcome are accepted (the content was read twice identically around changes
        that cannot expose a partial file: touch/chmod storms, renames), but never when either
        read may have met an in-place write: an in-place writer recreates the same transient state
        (an empty file after ``open(O_TRUNC)``) in every cycle, so two such reads can agree on it.
        """
        raced = self.changes_pending(source)
        torn = self._torn(source, mark)
        previous, self._raced_outcome = self._raced_outcome, (outcome if raced and not torn else None)
        # Never while a writer holds a file open (sources without writes_since() too).
        writing = bool(source.open_files)
        self._repeat_accepted = (
            raced and not torn and not writing and previous is not None and previous == outcome
        )
        if self._repeat_accepted:
            self._raced_outcome = None
            return False
        return raced or torn

    # -- the parts -------------------------------------------------------------------------------
    @staticmethod
    def _torn(source: ChangeSourceProtocol, mark: int | None) -> bool:
        """True if ``source`` saw a possible in-place write since ``mark`` (or one is open now)."""
        return mark is not None and source.writes_since(mark)

    def _emptied(
        self,
        rendered: Rendered | None,
        snap: Snapshot,
        source: ChangeSourceProtocol,
        hinted: Sequence[str] | None,
    ) -> dict[str, FileIdentity | None]:
        """Inputs read empty that were not empty in the last accepted pass and that no writer was
        seen finishing in that state: path -> identity read. Such a read may be the moment after
        an ``open(O_TRUNC)`` whose ``IN_MODIFY`` is not queued yet; it is held back until the
        writer's close (the next batch), or ``max_open_wait`` of no change.

        The config file counts when emptied in place (same ``st_dev``/``st_ino`` as the last
        accepted read; a renamed-in empty file is finished by its ``IN_MOVED_TO``), or when a
        writer has it open. A file some process still has open for writing (read lease refused)
        is held even when its identity matches: the source may have stat'ed it after the next
        writer's truncate.
        """
        accepted = self._accepted_files
        if not source.tracks_finished or accepted is None:
            return {}
        finished = source.finished_identity

        def unfinished(path: str, ident: FileIdentity) -> bool:
            return ident != finished(path) or probe_writers(path, ident) is False

        held: dict[str, FileIdentity | None] = {}
        cfg = self._config_file
        if rendered is not None and cfg is not None and rendered.source_digest == EMPTY_SHA256:
            ident = rendered.source_identity
            prev = self._accepted_input
            in_place = (
                ident is not None and prev is not None and prev[1] is not None and ident[:2] == prev[1][:2]
            )
            was_empty = prev is None or prev[0] == EMPTY_SHA256
            # A renamed-in file emptied in place before any read of it was accepted is not "in
            # place" by inode; the lease still sees its writer.
            if (
                not was_empty
                and ident is not None
                and ((in_place and ident != finished(cfg)) or probe_writers(cfg, ident) is False)
            ):
                held[cfg] = ident
        # Only hinted files can have changed since the last pass (a rescan looks at all of them).
        files = snap.files
        candidates = files.keys() if hinted is None else [p for p in hinted if p in files]
        for path in candidates:
            if files[path] != EMPTY_SHA256 or accepted.get(path, EMPTY_SHA256) == EMPTY_SHA256:
                continue
            try:
                ident = file_identity(os.stat(path))
            except OSError:
                ident = None
            if ident is None or unfinished(path, ident):
                held[path] = ident
        return held

    def _prove(
        self,
        rendered: Rendered | None,
        snap: Snapshot,
        source: ChangeSourceProtocol,
        hinted: Sequence[str] | None,
    ) -> tuple[bool, dict[str, FileIdentity | None]]:
        """Is the new content of this pass proven to be what finished writers left?

        Returns ``(settled, writing)``. ``writing``: changed inputs that a read lease shows some
        process has open for writing right now (path -> identity read): the read may be a write in
        progress, so the pass is held until that writer closes (bounded by ``max_open_wait``, like
        an emptied file). ``settled``: every changed input was read as a writer seen finishing
        left it and nobody has it open; the ``RACE_RECHECK`` wait is then skipped (an atomic
        rename reaches the reload request about 5 ms sooner). Otherwise the caller waits.

        Proof, per changed file: (1) the identity read (``fstat`` after the read) equals the one
        the change source recorded on the writer's ``IN_MOVED_TO`` or ``IN_CLOSE_WRITE``
        (``finished_identity``), or the file is a kubelet projection (``name -> ..data/name``:
        the kubelet writes the ``..<timestamp>`` directory completely before the swap); and (2)
        :func:`~config_reloader.watch.lease.probe_writers` can take and drop a read lease on it
        with that identity. (1) alone is not enough: the source stats the file when it
        *processes* the event, which may be after the next writer's ``open(O_TRUNC)`` and before
        that truncate's ``IN_MODIFY`` is queued (found by the long property run). Without leases
        (not the file's owner and no ``CAP_LEASE``, or a filesystem without them), for a rescan,
        a file still being written, a hinted path of unknown kind, or past ``SETTLE_PROBES``
        changed files, nothing is proven. Deleted files cannot be torn.
        """
        writing: dict[str, FileIdentity | None] = {}
        accepted = self._accepted_files
        files = snap.files
        if not source.tracks_finished or not isinstance(files, FileDigests):
            return False, writing
        if accepted is None or hinted is None:
            return False, writing
        if source.open_files:
            return False, writing
        finished = source.finished_identity
        probes = 0
        settled = True

        def check(path: str, ident: FileIdentity | None, *, projection: bool = False) -> None:
            nonlocal probes, settled
            probes += 1  # ~15 us each: past a few hundred, the 5 ms wait is the cheaper proof
            if ident is None or probes > SETTLE_PROBES:
                settled = False
                return
            unwritten = probe_writers(path, ident)
            if unwritten is False:
                writing[path] = ident
            if not unwritten or not (projection or ident == finished(path)):
                settled = False

        cfg = self._config_file
        if rendered is not None and cfg is not None:
            prev = self._accepted_input
            if prev is None:
                return False, writing
            if rendered.source_digest != prev[0]:
                check(cfg, rendered.source_identity)

        def check_file(path: str, digest: bytes) -> None:
            if digest != accepted.get(path):
                check(path, files.identity(path), projection=_kubelet_projection(path))

        for path in hinted:
            digest = files.get(path)
            if digest is not None:
                check_file(path, digest)
            elif path == cfg or not os.path.lexists(path):
                continue  # the config file is checked above; a delete is atomic
            elif not os.path.isdir(path) or os.path.islink(path):
                settled = False  # e.g. kubelet internals (collapsed to their dir: hinted too)
            else:
                for p, d in files.under(path):
                    check_file(p, d)
        return settled and not writing, writing

    def _hold(self, held: dict[str, FileIdentity | None], source: ChangeSourceProtocol) -> bool:
        """Record the emptied files of this pass; True = hold the pass back. A file held with the
        same identity for ``max_open_wait`` seconds is released (truncate(1): no close follows)."""
        now = self._clock.monotonic()
        bound = source.max_open_wait
        previous, self._held = self._held, {}
        for path, ident in held.items():
            before = previous.get(path)
            since = before[1] if before is not None and before[0] == ident else now
            if since + bound > now:
                self._held[path] = (ident, since)
        return bool(self._held)
