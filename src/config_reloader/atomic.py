"""Atomic file replacement (DESIGN §3 rule 6; recipe: research/python-watch-libs.md §3.3).

A reader of ``path`` sees the old bytes or the new bytes, never a mix, and after a crash the file is
one or the other. Steps: unique temp file in the same directory (``O_EXCL``, never a fixed
``.tmp`` name that two writers could share), write, flush, ``fsync``, ``fchmod``/``fchown``,
``rename`` over the target, ``fsync`` the directory (fsync(2): syncing the file does not make its
directory entry durable).

Symlinks: if ``path`` is a symlink, **the link itself is replaced** by a regular file, exactly what
``rename(2)`` does ("shall operate on the symbolic link itself", POSIX) and what Thanos' output
writer does. To update what a link points to, pass ``os.path.realpath(path)``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile

from config_reloader.errors import AtomicWriteError

__all__ = ["atomic_write", "temp_prefix"]

DEFAULT_MODE = 0o644

# Indirections so tests can make one step fail (a seam, not configuration).
_fsync = os.fsync
_replace = os.replace
_fchmod = os.fchmod


def temp_prefix(path: str) -> str:
    """Prefix of the temp names used for ``path`` (``.<name>.``); watchers may ignore such names."""
    return "." + os.path.basename(path) + "."


def atomic_write(path: str, data: bytes, mode: int | None = None, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically.

    Args:
        path: target file; its directory must exist.
        data: the complete new content (bytes).
        mode: permission bits for the result; ``None`` = the previous target's mode (following a
            symlink), or ``0o644`` for a new file (not reduced by the umask: mkstemp's 0600 must not
            leak into outputs, the atomicwrites bug).
        durable: ``False`` skips both fsyncs (benchmarks and bursty tests only).

    Raises:
        TypeError: ``data`` is not bytes-like (a ``str`` must be encoded first); nothing is written.
        AtomicWriteError: with ``.step`` one of ``create``, ``write``, ``fsync``, ``chmod``,
            ``rename``, ``fsync-dir``. Before ``rename`` the target is untouched and the temp file
            is removed; a ``fsync-dir`` failure means the new content is visible but may not be
            durable. EINVAL/ENOTSUP from a directory fsync (filesystems that do not support it)
            are ignored.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(
            f"atomic_write({path!r}): data must be bytes, not {type(data).__name__} "
            "(encode text first, e.g. text.encode())"
        )
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    previous: os.stat_result | None
    try:
        previous = os.stat(path)
    except OSError:
        previous = None
    if mode is None:
        mode = stat.S_IMODE(previous.st_mode) if previous is not None else DEFAULT_MODE

    step = "create"
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=temp_prefix(path), suffix=".tmp")
    except OSError as exc:
        raise AtomicWriteError(
            f"atomic write of {path}: cannot create a temp file in {directory}: {exc.strerror}",
            path=path,
            step=step,
        ) from exc
    try:
        try:
            step = "write"
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if durable:
                step = "fsync"
                _fsync(fd)
            step = "chmod"
            _fchmod(fd, mode)
            if previous is not None and os.geteuid() == 0:
                # Keep the owner of the file we replace when we can (root); EPERM is not fatal.
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, previous.st_uid, previous.st_gid)
        finally:
            os.close(fd)
        step = "rename"
        _replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise AtomicWriteError(
                f"atomic write of {path} failed at step {step}: {exc.strerror or exc}", path=path, step=step
            ) from exc
        raise
    if durable:
        _fsync_dir(directory, path)


def _fsync_dir(directory: str, path: str) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise AtomicWriteError(
            f"atomic write of {path}: cannot open {directory} to fsync it: {exc.strerror}",
            path=path,
            step="fsync-dir",
        ) from exc
    try:
        _fsync(dfd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise AtomicWriteError(
                f"atomic write of {path}: fsync of {directory} failed: {exc.strerror}",
                path=path,
                step="fsync-dir",
            ) from exc
    finally:
        os.close(dfd)
