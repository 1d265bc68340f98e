"""Thin ctypes layer over Linux inotify (inotify_init1, inotify_add_watch, inotify_rm_watch, read).

Nothing here interprets events: the watcher (``watch/watcher.py``) owns the state machine. The fd is
created with ``IN_NONBLOCK | IN_CLOEXEC`` so it can be driven by ``loop.add_reader`` and drained
until ``EAGAIN``.

Source of the constants and the record layout: Linux ``include/uapi/linux/inotify.h`` and
inotify(7) (``struct inotify_event { int wd; uint32_t mask, cookie, len; char name[]; }``, the name
NUL-padded to ``len`` bytes; ``IN_Q_OVERFLOW`` arrives with ``wd == -1``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass

from config_reloader.errors import InotifyLimitError

__all__ = [
    "IN_ACCESS",
    "IN_ATTRIB",
    "IN_CLOEXEC",
    "IN_CLOSE_NOWRITE",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_DONT_FOLLOW",
    "IN_EXCL_UNLINK",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MASK_ADD",
    "IN_MODIFY",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_NONBLOCK",
    "IN_ONLYDIR",
    "IN_OPEN",
    "IN_Q_OVERFLOW",
    "IN_UNMOUNT",
    "Inotify",
    "InotifyEvent",
    "decode_events",
    "mask_names",
]

IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_MASK_ADD = 0x20000000
IN_ISDIR = 0x40000000
IN_CLOEXEC = 0o2000000  # == O_CLOEXEC on Linux
IN_NONBLOCK = 0o4000  # == O_NONBLOCK on Linux

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len
# Large reads drain bursts quickly: the queue overflows when the reader is slower than the writers.
_READ_SIZE = 64 * 1024

_NAMES = {
    v: k for k, v in globals().items() if k.startswith("IN_") and k not in ("IN_CLOEXEC", "IN_NONBLOCK")
}


@dataclass(frozen=True, slots=True)
class InotifyEvent:
    """One decoded ``struct inotify_event``.

    Attributes:
        wd: watch descriptor (``-1`` for ``IN_Q_OVERFLOW``).
        mask: ``IN_*`` bits.
        cookie: pairs ``IN_MOVED_FROM`` with ``IN_MOVED_TO`` of one rename (0 otherwise).
        name: entry name inside the watched directory, ``""`` for the watched path itself.
    """

    wd: int
    mask: int
    cookie: int
    name: str


def mask_names(mask: int) -> str:
    """``IN_MODIFY|IN_ISDIR``-style rendering of ``mask`` for logs and test messages."""
    parts = [name for bit, name in sorted(_NAMES.items()) if mask & bit]
    return "|".join(parts) or "0"


def decode_events(buf: bytes) -> list[InotifyEvent]:
    """Decode a buffer returned by ``read(2)`` on an inotify fd.

    Names are decoded with :func:`os.fsdecode` (undecodable bytes survive as surrogates). A
    truncated trailing record (cannot happen with a whole ``read``) raises ``ValueError``.
    """
    events: list[InotifyEvent] = []
    offset = 0
    size = len(buf)
    while offset < size:
        if offset + _HEADER.size > size:
            raise ValueError(f"truncated inotify record header at offset {offset}")
        wd, mask, cookie, length = _HEADER.unpack_from(buf, offset)
        offset += _HEADER.size
        if offset + length > size:
            raise ValueError(f"truncated inotify record name at offset {offset}")
        raw = buf[offset : offset + length].split(b"\0", 1)[0]
        offset += length
        events.append(InotifyEvent(wd, mask, cookie, os.fsdecode(raw)))
    return events


class _Libc:
    """The three libc entry points, loaded once on first use."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.init1 = libc.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.init1.restype = ctypes.c_int
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.add_watch.restype = ctypes.c_int
        self.rm_watch = libc.inotify_rm_watch
        self.rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        self.rm_watch.restype = ctypes.c_int


_libc: _Libc | None = None


def _get_libc() -> _Libc:
    global _libc
    if _libc is None:
        _libc = _Libc()
    return _libc


class Inotify:
    """One inotify instance (``inotify_init1(IN_NONBLOCK | IN_CLOEXEC)``).

    Raises:
        InotifyLimitError: EMFILE from ``inotify_init1`` (``fs.inotify.max_user_instances``, default
            128 per user, reached).
        OSError: any other failure (e.g. ENFILE, ENOMEM).
    """

    def __init__(self) -> None:
        self._lib = _get_libc()
        fd = self._lib.init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            if err == errno.EMFILE:
                raise InotifyLimitError(
                    "inotify_init1: too many inotify instances; raise fs.inotify.max_user_instances",
                    sysctl="fs.inotify.max_user_instances",
                )
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._fd: int = int(fd)

    def fileno(self) -> int:
        """The inotify fd (for ``loop.add_reader``). ``ValueError`` once closed."""
        if self._fd < 0:
            raise ValueError("inotify instance is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def add_watch(self, path: str, mask: int) -> int:
        """Add (or replace the mask of) a watch on ``path``; returns its watch descriptor.

        The kernel returns the same wd for a path whose inode is already watched.

        Raises:
            InotifyLimitError: ENOSPC (``fs.inotify.max_user_watches`` reached).
            OSError: anything else, with ``filename=path`` (ENOENT, ENOTDIR with ``IN_ONLYDIR``,
                EACCES, ...).
        """
        wd = self._lib.add_watch(self.fileno(), os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSPC:
                raise InotifyLimitError(
                    f"inotify_add_watch {path}: watch limit reached; raise fs.inotify.max_user_watches",
                    sysctl="fs.inotify.max_user_watches",
                )
            raise OSError(err, os.strerror(err), path)
        return int(wd)

    def rm_watch(self, wd: int) -> None:
        """Remove a watch. A wd the kernel already dropped (EINVAL) is ignored."""
        if self._lib.rm_watch(self.fileno(), wd) < 0:
            err = ctypes.get_errno()
            if err != errno.EINVAL:
                raise OSError(err, f"inotify_rm_watch {wd}: {os.strerror(err)}")

    def read_events(self) -> list[InotifyEvent]:
        """Read every queued event without blocking; ``[]`` when nothing is queued."""
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(self.fileno(), _READ_SIZE)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not data:
                break
            chunks.append(data)
            if len(data) < _READ_SIZE // 2:
                # The kernel hands out whole records only; a short read means the queue was empty.
                break
        return decode_events(b"".join(chunks)) if chunks else []

    def close(self) -> None:
        """Close the fd (idempotent). All watches go with it."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
