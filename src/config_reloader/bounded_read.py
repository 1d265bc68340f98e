"""Bounded reads that never block: regular files only, a size limit, no symlink where it matters.

A FIFO, a socket or a device at a path we read is refused before any read (``O_NONBLOCK`` makes
even the open of a FIFO return at once); a file is read in pieces so that one growing while it is
read costs at most its limit in memory.
"""

from __future__ import annotations

import os
import stat

from config_reloader.fileid import file_identity

__all__ = ["FileTooLarge", "NotRegularFile", "file_kind", "output_matches", "read_regular", "read_stable"]

_PIECE = 1 << 20


class NotRegularFile(OSError):
    """The path is a directory, FIFO, socket or device (``.kind`` says which)."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path}: {kind}, not a regular file")
        self.path = path
        self.kind = kind


class FileTooLarge(Exception):
    """The file holds more than ``.limit`` bytes (``.size``: its fstat size, or -1 when it grew
    while being read)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(f"{path}: more than {limit} bytes")
        self.path = path
        self.size = size
        self.limit = limit


_READ_ATTEMPTS = 5


def file_kind(mode: int) -> str:
    """``"a FIFO"``, ``"a directory"``, ... for an ``st_mode`` that is not a regular file's."""
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def read_regular(fd: int, limit: int, *, size_hint: int = 0) -> bytes | None:
    """Read ``fd`` (a regular file) to its end; ``None`` once more than ``limit`` bytes came.

    Reads ``size_hint`` + 1 bytes first (the fstat size: one read for a file that did not change),
    then pieces of at most 1 MiB, so a file that grows while it is read costs at most ``limit`` +
    1 MiB of memory.
    """
    chunks: list[bytes] = []
    total = 0
    want = min(size_hint + 1, limit + 1)
    while True:
        chunk = os.read(fd, max(want, 1))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None
        want = min(_PIECE, limit + 1 - total)


def read_stable(path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """Read the regular file ``path``; returns ``(bytes, fstat after the read)``.

    A read during which the file's identity (size, mtime, ctime) changed was torn by a writer:
    read again (at most 5 times; the last read is returned, the caller's race checks catch it).
    Symlinks are followed (Kubernetes mounts are links into ``..data``). Anything but a regular
    file is refused without reading it.

    Raises:
        NotRegularFile: a directory, FIFO, socket or device (or a symlink to one).
        FileTooLarge: more than ``limit`` bytes.
        OSError: it cannot be opened or read.
    """
    for _ in range(_READ_ATTEMPTS):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise NotRegularFile(path, file_kind(before.st_mode))
            if before.st_size > limit:
                raise FileTooLarge(path, before.st_size, limit)
            data = read_regular(fd, limit, size_hint=before.st_size)
            if data is None:
                raise FileTooLarge(path, -1, limit)
            raw = data
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if file_identity(before) == file_identity(after):
            break
    return raw, after


def output_matches(output_file: str, data: bytes) -> bool:
    """True if ``output_file`` is a regular file (not a symlink) holding exactly ``data``.

    Never reads anything else: a symlink, FIFO, device or socket there is not opened at all
    (``lstat`` first, then ``O_NOFOLLOW | O_NONBLOCK`` and ``fstat`` against a swap in between),
    and a regular file whose size differs from ``len(data)`` is not read either; at most
    ``len(data) + 1`` bytes are read. Any error means "does not match" (the output is replaced).
    """
    try:
        if not stat.S_ISREG(os.lstat(output_file).st_mode):
            return False
        fd = os.open(output_file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        return read_regular(fd, len(data), size_hint=len(data)) == data
    except OSError:
        return False
    finally:
        os.close(fd)
