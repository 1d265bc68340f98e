"""Where the watcher puts its inotify watches, and why: a pure function of the paths and of the
filesystem as it is now (:func:`plan_watches`), and the event masks it uses.

Every watched dir, and the parent dir of every config file, gets one non-recursive watch (a watch
on a file dies on the first atomic replacement); a symlinked watched path also gets its parent
watched, so a swap of the link re-arms; a missing path is replaced by a watch on its nearest
existing ancestor.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from config_reloader.errors import InotifyLimitError
from config_reloader.watch.inotify import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_MODIFY,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONLYDIR,
    IN_UNMOUNT,
)

if TYPE_CHECKING:
    from config_reloader.watch.inotify import Inotify

__all__ = [
    "CONTENT_EVENTS",
    "NAME_CHANGED",
    "NAME_GONE",
    "SELF_GONE",
    "WATCH_MASK",
    "Role",
    "RoleKind",
    "arm_watches",
    "plan_watches",
]

log = logging.getLogger("config_reloader.watch.watcher")

WATCH_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
SELF_GONE = IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT
NAME_GONE = IN_DELETE | IN_MOVED_FROM
NAME_CHANGED = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
# Events that may change what a reader of the file sees (IN_ATTRIB alone, a touch or chmod, does not).
CONTENT_EVENTS = (IN_MODIFY | IN_CLOSE_WRITE | NAME_CHANGED | SELF_GONE) & ~IN_ATTRIB

RoleKind = Literal["dir", "parent", "resolved", "link", "ancestor"]


@dataclass(frozen=True, slots=True)
class Role:
    """Why a directory is watched.

    kind: ``dir`` = a watched dir (every name is a hint); ``parent`` = parent of config file
    ``target`` (only ``name`` and ``..*`` are hints); ``resolved`` = directory of the file a
    symlinked config file ``target`` resolves to (``name`` = the resolved file's name); ``link`` =
    parent of the symlink ``target`` (``name`` changing re-arms); ``ancestor`` = nearest existing
    ancestor of the missing ``target`` (``name`` = next path component; its appearance re-arms).
    """

    kind: RoleKind
    target: str
    name: str


def plan_watches(files: Sequence[str], dirs: Sequence[str]) -> list[tuple[str, Role]]:
    """Which directory to watch for which reason, for config ``files`` and watched ``dirs``, from
    the filesystem as it is now."""
    plan: list[tuple[str, Role]] = []

    def want_dir(path: str, role: Role) -> None:
        if os.path.isdir(path):
            plan.append((path, role))
            if os.path.islink(path):
                parent = os.path.dirname(path)
                if os.path.isdir(parent):
                    plan.append((parent, Role("link", path, os.path.basename(path))))
            return
        child = path
        ancestor = os.path.dirname(path)
        while not os.path.isdir(ancestor) and ancestor != os.path.dirname(ancestor):
            child, ancestor = ancestor, os.path.dirname(ancestor)
        plan.append((ancestor, Role("ancestor", path, os.path.basename(child))))

    for d in dirs:
        want_dir(d, Role("dir", d, ""))
    for f in files:
        want_dir(os.path.dirname(f), Role("parent", f, os.path.basename(f)))
        if os.path.islink(f):
            # A config file that links elsewhere (a git checkout, a kubelet volume): watch
            # where it resolves to as well, so replacing the real file is seen at once.
            real = os.path.realpath(f)
            real_dir = os.path.dirname(real)
            if os.path.isdir(real_dir):
                plan.append((real_dir, Role("resolved", f, os.path.basename(real))))
    return plan


def arm_watches(
    ino: Inotify,
    files: Sequence[str],
    dirs: Sequence[str],
    old: Mapping[int, list[Role]],
    *,
    on_error: Callable[[], None],
) -> dict[int, list[Role]]:
    """Add the watches :func:`plan_watches` wants to ``ino`` and remove those of ``old`` it no
    longer wants; return watch descriptor -> roles.

    A directory that vanishes between the plan and the add is planned again (at most 5 times);
    one that cannot be watched otherwise is logged and counted (``on_error``) and left to the
    periodic resync.

    Raises:
        InotifyLimitError: ENOSPC while adding a watch (the caller falls back to polling).
    """
    new: dict[int, list[Role]] = {}
    for attempt in range(5):
        new.clear()
        retry = False
        for path, role in plan_watches(files, dirs):
            try:
                wd = ino.add_watch(path, WATCH_MASK)
            except InotifyLimitError:
                raise
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR) and attempt < 4:
                    retry = True  # vanished between the plan and the add: plan again
                    break
                on_error()
                log.warning(
                    "cannot watch directory; changes there are seen only by the periodic resync",
                    extra={"cfg_path": path, "err": exc.strerror},
                )
                continue
            new.setdefault(wd, []).append(role)
        if not retry:
            break
    for wd in old.keys() - new.keys():
        with contextlib.suppress(OSError, ValueError):
            ino.rm_watch(wd)
    return new
