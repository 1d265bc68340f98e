"""What the watcher knows of writers, from their events: whether an in-place write may have
happened since a mark, and the identity a writer left a file in when it was last seen finished.

* ``IN_MODIFY``, or ``IN_CREATE`` of a regular file (``open(O_CREAT)``: its creator writes next),
  is a write in progress: the :class:`~config_reloader.watch.settle.Settler` holds the batch until
  the writer's ``IN_CLOSE_WRITE`` (bounded), and :attr:`Writers.gen` moves.
* ``IN_CLOSE_WRITE`` or ``IN_MOVED_TO`` (an atomic replacement is complete) records the file's
  :data:`~config_reloader.fileid.FileIdentity` at that moment (:meth:`Writers.finished_identity`).
* A hint of unknown kind (overflow, re-arm, poll) counts as a possible in-place write.
"""

from __future__ import annotations

import os
import stat

from config_reloader.fileid import FileIdentity, stat_identity
from config_reloader.watch.inotify import IN_CLOSE_WRITE, IN_CREATE, IN_ISDIR, IN_MODIFY, IN_MOVED_TO
from config_reloader.watch.plan import NAME_GONE
from config_reloader.watch.settle import Settler

__all__ = ["Writers"]


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


class Writers:
    """Writer tracking of one change source (see the module docstring).

    Attributes:
        gen: a generation bumped on every sign of an in-place write; never a count anyone
            asserts on (``ChangeSource.mark()``/``writes_since()`` compare it around a read).
    """

    def __init__(self, settler: Settler) -> None:
        self._settler = settler
        self.gen = 0
        # path -> identity when a writer was last seen finished with it (IN_CLOSE_WRITE,
        # IN_MOVED_TO, or max_open_wait ran out)
        self._finished: dict[str, FileIdentity | None] = {}

    def event(self, path: str, mask: int) -> None:
        """One inotify event about ``path`` (a config file or an entry of a watched dir)."""
        if mask & (IN_CLOSE_WRITE | NAME_GONE):
            self._settler.closed(path)
            if mask & IN_CLOSE_WRITE:
                self.finished_now(path)
            else:
                self.forget(path)
        elif mask & IN_MODIFY:
            self.gen += 1
            self._settler.writing(path)
        elif mask & IN_CREATE and not mask & IN_ISDIR and _is_regular(path):
            # open(O_CREAT) of a new file: its creator holds it open and writes next (a vim-style
            # save creates the file empty). A hard link (no close follows) waits max_open_wait.
            self.gen += 1
            self._settler.writing(path)
        elif mask & IN_MOVED_TO:
            # An atomic replacement: the renamed-in file is complete.
            self.finished_now(path)

    def unknown_change(self) -> None:
        """Something changed and nobody knows what: treat it as a possible in-place write."""
        self.gen += 1

    def finished_now(self, path: str) -> None:
        """Whatever ``path`` holds now counts as a finished writer's result."""
        self._finished[path] = stat_identity(path)

    def forget(self, path: str) -> None:
        """No finished writer known for ``path`` (it went away, or poll mode saw it change)."""
        self._finished.pop(path, None)

    def finished_identity(self, path: str) -> FileIdentity | None:
        """Identity of ``path`` when a writer was last seen finished with it, or None."""
        return self._finished.get(path)
