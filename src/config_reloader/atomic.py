"""Atomic file replacement (rule R6 in docs/design.md).

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

import errno
import os
import stat

from config_reloader import errors  # errors.X at a raise: errors.reloader loads on first use

__all__ = ["atomic_write", "current_umask", "inherited_mode", "temp_prefix"]

DEFAULT_MODE = 0o644

# Indirections so tests can make one step fail (a seam, not configuration).
_fsync = os.fsync
_replace = os.replace
_fchmod = os.fchmod


def temp_prefix(path: str) -> str:
    """Prefix of the temp names used for ``path`` (``.<name>.``); watchers may ignore such names."""
    return "." + os.path.basename(path) + "."


def current_umask() -> int:
    """The process umask, read from ``/proc/self/status`` (Linux >= 4.7).

    Falls back to setting and restoring it with :func:`os.umask`, which briefly changes it for
    every thread: files other threads create in that instant would get mode bits they should not.
    """
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def inherited_mode(st: os.stat_result) -> int:
    """Permission bits a new output may take from ``st`` (the input's, or a previous output's).

    Only the ``rwx`` bits (no setuid/setgid/sticky). A file another user owns gives its bits
    without group and other write: such a user could otherwise make our output writable for
    everyone by pre-creating a 0666 file, then append to what we render.
    """
    mode = stat.S_IMODE(st.st_mode) & 0o777
    if st.st_uid != os.geteuid():
        mode &= ~0o022
    return mode


def atomic_write(
    path: str, data: bytes, mode: int | None = None, *, new_mode: int = DEFAULT_MODE, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` atomically.

    Args:
        path: target file; its directory must exist.
        data: the complete new content (bytes).
        mode: exact permission bits for the result (not reduced by the umask). ``None``: the
            previous target's ``rwx`` bits if it is a regular file owned by this process' user,
            else ``new_mode``; either reduced by the umask (what Go's ``os.WriteFile`` gives a new
            file). mkstemp's 0600 never leaks into outputs (the atomicwrites bug).
        new_mode: bits for a new file (or one replacing something this user does not own, or
            that is not a regular file) before the umask; default ``0o644``.
        durable: ``False`` skips both fsyncs (benchmarks and bursty tests only).

    Ownership: the result is owned by this process' user. A previous target owned by the same
    user also passes on its group (when this user may set it). Nothing is taken over from a
    file another user created (nor from what a symlink there points to), a FIFO or a device.

    Raises:
        TypeError: ``data`` is not bytes-like (a ``str`` must be encoded first); nothing is written.
        AtomicWriteError: a device node or a directory is at ``path`` (step ``create``, nothing
            touched); or
            with ``.step`` one of ``create``, ``write``, ``fsync``, ``chmod``,
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
    _refuse_device(path)
    previous: os.stat_result | None
    try:
        previous = os.stat(path)  # a symlink to our own regular file passes on that file's mode
    except OSError:
        previous = None
    if previous is not None and stat.S_ISDIR(previous.st_mode):
        # rename(2) would fail with EISDIR only after the temp file is written; and a read-only
        # parent (a ConfigMap mount's) fails creating it first with a message that hides the cause.
        raise errors.AtomicWriteError(
            f"atomic write of {path}: it is a directory; give a file name inside it", path=path, step="create"
        )
    if previous is not None and (not stat.S_ISREG(previous.st_mode) or previous.st_uid != os.geteuid()):
        previous = None
    if mode is None:
        base = stat.S_IMODE(previous.st_mode) & 0o777 if previous is not None else new_mode & 0o777
        mode = base & ~current_umask()

    step = "create"
    try:
        fd, tmp = _create_temp(directory, temp_prefix(path), ".tmp")
    except OSError as exc:
        raise errors.AtomicWriteError(
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
            if previous is not None and previous.st_gid != os.fstat(fd).st_gid:
                # Keep the group of our own previous file (root:prometheus 0640); EPERM: not ours to give.
                try:
                    os.fchown(fd, -1, previous.st_gid)
                except PermissionError:
                    pass
            _fchmod(fd, mode)  # after fchown, which clears setgid bits
        finally:
            os.close(fd)
        step = "rename"
        _replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise errors.AtomicWriteError(
                f"atomic write of {path} failed at step {step}: {exc.strerror or exc}", path=path, step=step
            ) from exc
        raise
    if durable:
        _fsync_dir(directory, path)


_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_TRIES = 100


def _create_temp(directory: str, prefix: str, suffix: str) -> tuple[int, str]:
    """A new file ``directory/prefix<12 random hex digits>suffix``, mode 0600, opened for writing:
    :func:`tempfile.mkstemp`'s contract (its flags, ``O_EXCL`` against any existing name or
    symlink, an unguessable name, retried on a collision). Not tempfile itself: importing it
    (with shutil, random, bz2, lzma) is ~3 ms of the init container's CPU.

    Raises:
        OSError: the file cannot be created (FileExistsError after 100 collisions).
    """
    for _ in range(_TEMP_TRIES):
        name = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(name, _TEMP_FLAGS, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


def _refuse_device(path: str) -> None:
    """A device node at ``path`` (``/dev/null``, ``/dev/zero`` given as an output by mistake), or
    a symlink of our own user to one (``/dev/stdout``), is never replaced: as root the rename
    would swap the system's device node for a regular file. Only a user with ``CAP_MKNOD`` can
    create a device node, so refusing it gives nobody else a way to stop our writes; a symlink of
    another user is replaced as before.
    """
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) and st.st_uid == os.geteuid():
            st = os.stat(path)
    except OSError:
        return
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        kind = "character" if stat.S_ISCHR(st.st_mode) else "block"
        raise errors.AtomicWriteError(
            f"atomic write of {path}: it is a {kind} device, not replaced (write to a regular file's path)",
            path=path,
            step="create",
        )


def _fsync_dir(directory: str, path: str) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise errors.AtomicWriteError(
            f"atomic write of {path}: cannot open {directory} to fsync it: {exc.strerror}",
            path=path,
            step="fsync-dir",
        ) from exc
    try:
        _fsync(dfd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise errors.AtomicWriteError(
                f"atomic write of {path}: fsync of {directory} failed: {exc.strerror}",
                path=path,
                step="fsync-dir",
            ) from exc
    finally:
        os.close(dfd)
