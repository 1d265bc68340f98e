"""The snapshot's building blocks: the per-file cache record, the read-only ``path -> sha256``
view (:class:`FileDigests`), kubelet's reserved names, and Thanos' reference digest.

A cached file is one 80-byte record: identity (st_dev, st_ino unsigned; size, mtime_ns, ctime_ns
signed), the moment it was hashed (ns), sha256(content); a bytes record instead of an object with a
tuple of five big ints: ~110 bytes per file instead of ~600.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import struct
import time

# The abstract classes from the module that defines them, which the interpreter has loaded before
# any of ours (os imports it): collections.abc would load the collections package (with keyword,
# operator and reprlib: ~1 ms of CPU before the sidecar's first reload).
from _collections_abc import ItemsView, Mapping

from config_reloader.errors import SnapshotError
from config_reloader.fileid import FileIdentity, file_identity

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from hashlib import _Hash

__all__ = [
    "DIGEST_AT",
    "HASHED_AT",
    "IDENT",
    "ID_END",
    "KUBELET_DATA",
    "READ_CHUNK",
    "SEP",
    "FileChanged",
    "FileDigests",
    "Tree",
    "drop_cached",
    "fs_bytes",
    "identity_record",
    "is_kubelet_internal",
    "is_racy",
    "read_record",
    "thanos_digest",
]

SEP = b"\xff"
READ_CHUNK = 1 << 20


# One cached file, 80 bytes: identity (st_dev, st_ino unsigned; size, mtime_ns, ctime_ns signed),
# the moment it was hashed (ns), sha256(content). A bytes record instead of an object with a tuple
# of five big ints: ~110 bytes per file instead of ~600.
IDENT = struct.Struct("<QQqqq")
HASHED_AT = struct.Struct("<q")
ID_END = IDENT.size
DIGEST_AT = ID_END + HASHED_AT.size

# dir -> name -> record; the inner dicts of a published snapshot are never mutated (copy on write)
Tree = dict[str, dict[str, bytes]]


KUBELET_DATA = "..data"
"""kubelet AtomicWriter's symlink to the current payload dir; each key is a link ``name -> ..data/name``
(kubernetes ``pkg/volume/util/atomic_writer.go``)."""


def is_kubelet_internal(name: str) -> bool:
    """True for names kubelet's AtomicWriter reserves (``..data``, ``..data_tmp``, ``..<timestamp>``).

    Source: kubernetes ``pkg/volume/util/atomic_writer.go`` (names starting with ``..`` are reserved).
    """
    return name.startswith("..")


class FileDigests(Mapping[str, bytes]):
    """Read-only ``path -> sha256(content)`` view of one snapshot (what ``Snapshot.files`` is).

    Built in O(number of directories): it shares the snapshotter's per-directory records, which are
    copied before they change, so a view keeps showing the moment it was taken. Iteration order is
    grouped by directory, in cache order (not sorted). A lookup is one ``str.rpartition`` and two
    dict lookups.
    """

    __slots__ = ("_len", "_tree")

    def __init__(self, tree: Tree) -> None:
        self._tree = tree
        self._len = sum(len(recs) for recs in tree.values())

    def __getitem__(self, path: str) -> bytes:
        if not isinstance(path, str):
            raise KeyError(path)
        d, _, name = path.rpartition(os.sep)
        recs = self._tree.get(d or os.sep)
        rec = None if recs is None else recs.get(name)
        if rec is None:
            raise KeyError(path)
        return rec[DIGEST_AT:]

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        d, _, name = path.rpartition(os.sep)
        recs = self._tree.get(d or os.sep)
        return recs is not None and name in recs

    def __iter__(self) -> Iterator[str]:
        for d, recs in self._tree.items():
            prefix = d if d.endswith(os.sep) else d + os.sep
            for name in recs:
                yield prefix + name

    def items(self) -> ItemsView[str, bytes]:
        return _FileDigestItems(self)

    def under(self, path: str) -> Iterator[tuple[str, bytes]]:
        """``(path, sha256)`` of every file in directory ``path`` or below it."""
        prefix = path + os.sep
        for d, recs in self._tree.items():
            if d == path or d.startswith(prefix):
                sep = d if d.endswith(os.sep) else d + os.sep
                for name, rec in recs.items():
                    yield sep + name, rec[DIGEST_AT:]

    def changed_since(self, before: FileDigests, *, identity: bool = False) -> set[str]:
        """Paths added, removed, or whose content digest differs since ``before`` (an earlier
        view of the same snapshotter); with ``identity``, also those whose identity
        ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` differs (written to, or replaced,
        even if the content is the same again).

        Cost: O(number of directories) plus the files of the directories whose records were
        copied since ``before``; a directory the snapshotter did not touch shares its record
        object with ``before`` and is skipped unread, so one change among 10,000 files does not
        walk 10,000 entries. Without ``identity``, a file whose identity changed but not its
        content is not listed.
        """
        out: set[str] = set()
        old_tree = before._tree
        for d, recs in self._tree.items():
            prev = old_tree.get(d)
            if prev is recs:
                continue
            sep = d if d.endswith(os.sep) else d + os.sep
            if prev is None:
                out.update(sep + name for name in recs)
                continue
            for name, rec in recs.items():
                was = prev.get(name)
                if (
                    was is None
                    or was[DIGEST_AT:] != rec[DIGEST_AT:]
                    or (identity and was[:ID_END] != rec[:ID_END])
                ):
                    out.add(sep + name)
            out.update(sep + name for name in prev if name not in recs)
        for d, prev in old_tree.items():
            if d not in self._tree:
                sep = d if d.endswith(os.sep) else d + os.sep
                out.update(sep + name for name in prev)
        return out

    def identity(self, path: str) -> FileIdentity | None:
        """The identity ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of ``path`` as
        it was when its digest was taken (``fstat`` of the descriptor after the read), or
        ``None`` if ``path`` is not in this snapshot."""
        d, _, name = path.rpartition(os.sep)
        recs = self._tree.get(d or os.sep)
        rec = None if recs is None else recs.get(name)
        if rec is None:
            return None
        ident: FileIdentity = IDENT.unpack_from(rec)
        return ident

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"FileDigests({len(self)} files)"


class _FileDigestItems(ItemsView[str, bytes]):
    """``(path, sha256)`` pairs straight from the records (no per-path lookup)."""

    _mapping: FileDigests

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        for d, recs in self._mapping._tree.items():
            prefix = d if d.endswith(os.sep) else d + os.sep
            for name, rec in recs.items():
                yield prefix + name, rec[DIGEST_AT:]


def identity_record(st: os.stat_result) -> bytes:
    """The identity part of a record (the first ``ID_END`` bytes) for a ``stat`` result."""
    return IDENT.pack(*file_identity(st))


def fs_bytes(path: str) -> bytes:
    """A path as the bytes the digests hash (undecodable names kept, as the OS gave them)."""
    return path.encode("utf-8", "surrogateescape")


def thanos_digest(paths: Iterable[str]) -> bytes:
    """Thanos' exact digest: ``sha256`` over ``0xFF ‖ path ‖ 0xFF ‖ content`` for ``sorted(paths)``.

    Reads every file (no cache). Source: thanos ``pkg/reloader/reloader.go`` ``hashFile``.

    Raises:
        OSError: a file cannot be read.
    """
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(SEP)
        h.update(os.fsencode(path))
        h.update(SEP)
        with open(path, "rb") as f:
            while chunk := f.read(READ_CHUNK):
                h.update(chunk)
    return h.digest()


class FileChanged(Exception):
    """The file changed while it was being read (its identity before and after differ)."""


def moved(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> bool:
    """True if a file was added, removed, rewritten or replaced between two snapshots of one
    :class:`~config_reloader.watch.snapshot.Snapshotter`: its content or its identity differs
    (:meth:`FileDigests.changed_since` with ``identity``). Mappings built by hand carry no
    identities: only their contents are compared."""
    if isinstance(before, FileDigests) and isinstance(after, FileDigests):
        return bool(after.changed_since(before, identity=True))
    return dict(before) != dict(after)


def is_racy(rec: bytes, margin_ns: int) -> bool:
    """True if the record's digest cannot be trusted by identity alone: the file's mtime is not at
    least ``margin_ns`` older than the moment it was hashed (the "racy git" rule: a filesystem
    with coarse timestamps can hide a same-size rewrite inside one tick)."""
    mtime_ns = IDENT.unpack_from(rec)[3]
    hashed_at_ns: int = HASHED_AT.unpack_from(rec, ID_END)[0]
    return bool(mtime_ns >= hashed_at_ns - margin_ns)


def drop_cached(fd: int) -> None:
    """Ask the kernel to drop the clean page cache of the file open at ``fd``
    (``posix_fadvise(POSIX_FADV_DONTNEED)``; advice: errors are ignored).

    Why: the memory cgroup charges a page-cache page to the cgroup that first reads it, so
    hashing 10,000 rule files that are not cached yet charges ~4 KiB each (~40 MiB) to the
    sidecar's 50 MiB limit; measured in docs/benchmarks.md ("What the sidecar's memory peak is
    made of"). :func:`read_record` calls it only for a file whose pages its own read brought in:
    pages that were cached before (by the kubelet that wrote the file, by the target that reads
    it) are someone else's charge and stay. Why it is safe: the digest is already computed, and
    only clean pages are dropped (a dirty page is written back, never discarded): a later read
    by anyone, the target's reload included, reads the same bytes from the file system. On tmpfs
    (a Secret volume) the advice does nothing: those pages are the file.
    """
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass


def _hash_content(fd: int, size: int, h: _Hash) -> tuple[int, bool]:
    """Feed the content of the regular file at ``fd`` (``size`` bytes by its fstat) to ``h``;
    returns ``(bytes read, whether every byte came from the page cache)``.

    Reads with ``RWF_NOWAIT`` while the pages are cached: such a read takes only what is in the
    page cache and stops short (or fails with EAGAIN) where a page would have to come from the
    disk; from there on it reads as usual. A read shorter than the buffer at or past ``size`` is
    the end of the file (a file that grew meanwhile is caught by the caller's identity check).
    """
    # a buffer sized to the file, not 1 MiB per file: 10,000 short-lived 1 MiB buffers
    # fragment the worker thread's malloc arena (+0.6 MiB RSS measured in a thread)
    buf = bytearray(min(READ_CHUNK, size + 1))
    view = memoryview(buf)
    offset, cached = 0, True
    while True:
        if cached:
            try:
                n = os.preadv(fd, (buf,), offset, os.RWF_NOWAIT)
            except OSError:  # EAGAIN: not cached; EOPNOTSUPP: a file system without the flag
                cached = False
                continue
            if n < len(buf) and offset + n < size:
                cached = False  # the rest is not in the page cache
        else:
            n = os.preadv(fd, (buf,), offset)
        h.update(view[:n])
        offset += n
        if n < len(buf) and (offset >= size or n == 0):
            return offset, cached


def read_record(path: str) -> tuple[bytes, int] | None:
    """Hash the regular file ``path`` (symlinks followed) into a cache record: ``(record, bytes
    read)``, or None if it is not a regular file once opened.

    Raises:
        FileNotFoundError: it vanished (also a symlink loop or a non-directory in the path).
        FileChanged: its identity changed while it was read: read again.
        SnapshotError: it cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise FileNotFoundError(exc.errno, exc.strerror, path) from exc
        raise SnapshotError(f"cannot read {path}: {exc.strerror}", path=path) from exc
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            return None
        started = time.time_ns()
        h = hashlib.sha256()
        size, was_cached = _hash_content(fd, before.st_size, h)
        after = os.fstat(fd)
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror}", path=path) from exc
    else:
        if not was_cached:
            drop_cached(fd)
    finally:
        os.close(fd)
    ident_after = identity_record(after)
    if identity_record(before) != ident_after:
        raise FileChanged
    return ident_after + HASHED_AT.pack(started) + h.digest(), size
