"""The identity of a file's content as seen by ``stat``: what tells two reads of a file apart.

``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``, symlinks followed. Equal identities
before and after a read mean no write landed in between (a write moves mtime/ctime; a rename puts
another inode there). Used by the watcher (a writer finished with the file), the snapshotter
(per-file digest cache), the renderer (a torn read), the read lease and the loop's guard.
"""

from __future__ import annotations

import os

__all__ = ["FileIdentity", "file_identity", "stat_identity"]

FileIdentity = tuple[int, int, int, int, int]
"""``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of a file (symlinks followed)."""


def file_identity(st: os.stat_result) -> FileIdentity:
    """The :data:`FileIdentity` of a ``stat``/``fstat`` result."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def stat_identity(path: str) -> FileIdentity | None:
    """The :data:`FileIdentity` of ``path`` now, or None if it cannot be stat'ed."""
    try:
        return file_identity(os.stat(path))
    except OSError:
        return None
