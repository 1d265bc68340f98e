"""Content snapshots of the watched paths: per-file SHA-256 with an identity cache (DESIGN §3 rule 5).

What is hashed (Thanos ``pkg/reloader`` semantics, research/reloader-anchors.md §1.4):

* each *extra file* (the config file) under its path as given, opened through symlinks;
* every regular file below each watched dir, recursively, under ``<dir as configured>/<relative
  path>``; symlinks to files are followed; directories and symlinks to directories are not hashed
  as files (and symlinked dirs are not descended, like Go's ``filepath.Walk``); FIFOs, sockets and
  devices are skipped (reading a FIFO would block);
* names starting with ``..`` are skipped at every level (kubelet internals ``..data``,
  ``..2026_…``): the user-visible links already reach that content, and walking the timestamped dir
  is what made Thanos crash mid-update (bug B5).

Digest format: ``sha256( for each file in sorted path order: 0xFF ‖ path ‖ 0xFF ‖ sha256(content) )``.
Thanos feeds the *content* where we feed the content's SHA-256; everything else (path in the
hash, order, separators, what is included) is the same. The per-file digest is what makes the cache
possible: a hint about one file rehashes that file only, and memory stays bounded (32 bytes and one
identity tuple per file, no contents). :func:`thanos_digest` computes Thanos' exact value when a
byte-for-byte comparison is wanted.

Deviations from Thanos, on purpose: a watched dir that is a symlink is hashed under its configured
path, not its resolved one, so retargeting the link to identical content is not a change; and names
rejected by ``path_filter`` (writers' temp files, editor backups and locks:
:mod:`config_reloader.watch.ignore`) are not part of the digest.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
import time
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from config_reloader.errors import SnapshotError
from config_reloader.watch.ignore import PathFilter, keep_all

__all__ = ["Snapshot", "SnapshotStats", "Snapshotter", "is_kubelet_internal", "thanos_digest"]

log = logging.getLogger(__name__)

_SEP = b"\xff"
_VANISH_RETRIES = 3
_READ_CHUNK = 1 << 20

# (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns) of the resolved file
Identity = tuple[int, int, int, int, int]


def is_kubelet_internal(name: str) -> bool:
    """True for names kubelet's AtomicWriter reserves (``..data``, ``..data_tmp``, ``..<timestamp>``).

    Source: kubernetes ``pkg/volume/util/atomic_writer.go`` (names starting with ``..`` are reserved).
    """
    return name.startswith("..")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The content state of the watched paths at one moment.

    Attributes:
        digest: 32-byte SHA-256, see the module docstring for the format.
        files: path -> SHA-256 of the file's content, for every file included.
        missing: configured extra files or dirs that did not exist (or were unreadable as such).
    """

    digest: bytes
    files: Mapping[str, bytes]
    missing: frozenset[str] = frozenset()

    @property
    def hexdigest(self) -> str:
        return self.digest.hex()


@dataclass(slots=True)
class SnapshotStats:
    """Counters since construction (tests and bench read them)."""

    snapshots: int = 0
    files_statted: int = 0
    files_hashed: int = 0
    bytes_hashed: int = 0


@dataclass(slots=True)
class _Entry:
    identity: Identity
    digest: bytes
    hashed_at_ns: int
    part: bytes  # this file's contribution to the digest: 0xFF path 0xFF sha256(content)


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def thanos_digest(paths: Iterable[str]) -> bytes:
    """Thanos' exact digest: ``sha256`` over ``0xFF ‖ path ‖ 0xFF ‖ content`` for ``sorted(paths)``.

    Reads every file (no cache). Source: thanos ``pkg/reloader/reloader.go`` ``hashFile``.

    Raises:
        OSError: a file cannot be read.
    """
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(_SEP)
        h.update(os.fsencode(path))
        h.update(_SEP)
        with open(path, "rb") as f:
            while chunk := f.read(_READ_CHUNK):
                h.update(chunk)
    return h.digest()


class Snapshotter:
    """Digests ``dirs`` (recursively) and ``extra_files`` with a per-file cache keyed by identity.

    Not thread-safe: call :meth:`snapshot` from one thread at a time (it may run in a worker thread).

    Args:
        dirs: watched directories (configured paths; may be symlinks; may not exist yet).
        extra_files: single files (the config file); may not exist yet.
        racy_margin: seconds. A cached digest is trusted only if the file's mtime is at least this
            much older than the moment it was hashed (the "racy git" rule: filesystems with coarse
            timestamps can hide a same-size rewrite inside one tick; research/python-watch-libs.md §4.2).
        path_filter: ``(path) -> bool``, False = not configuration (writers' temp files, editor
            backups: :mod:`config_reloader.watch.ignore`); applied to every entry below the watched
            dirs, never to ``extra_files``. ``None`` = keep everything (Thanos' digest).
    """

    def __init__(
        self,
        dirs: Sequence[str],
        extra_files: Sequence[str] = (),
        *,
        racy_margin: float = 2.0,
        path_filter: PathFilter | None = None,
    ) -> None:
        self.path_filter: PathFilter = keep_all if path_filter is None else path_filter
        self.dirs = tuple(os.path.abspath(d) for d in dirs)
        self.extra_files = tuple(os.path.abspath(f) for f in extra_files)
        self.stats = SnapshotStats()
        self._racy_ns = int(racy_margin * 1e9)
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] | None = None  # sorted paths; None = the key set changed
        self._missing: set[str] = set()

    # --- public ---------------------------------------------------------------------------------
    def snapshot(self, hinted: Iterable[str] | None = None) -> Snapshot:
        """Return the current :class:`Snapshot`.

        Args:
            hinted: ``None`` = full walk: stat everything, rehash files whose identity
                ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` changed, forget vanished
                ones. Otherwise only the hinted paths are re-examined: a file is re-statted (and
                rehashed if its identity changed); a directory is re-walked; a path that is gone is
                forgotten with everything below it; a path whose name starts with ``..`` stands for
                its parent directory (kubelet's ``..data`` swap changes every user-visible file).
                Paths outside the configured ones are ignored.

        Raises:
            SnapshotError: a file exists but cannot be read (e.g. EACCES). Files vanishing during
                the walk are retried a few times, then skipped, never an error.
        """
        if hinted is None:
            self._full_walk()
        else:
            for path in hinted:
                self._refresh(os.path.abspath(path))
        self.stats.snapshots += 1
        if self._order is None:
            self._order = sorted(self._entries)
        entries = self._entries
        digest = hashlib.sha256(b"".join([entries[p].part for p in self._order])).digest()
        files = {p: e.digest for p, e in entries.items()}
        return Snapshot(
            digest=digest,
            files=types.MappingProxyType(files),
            missing=frozenset(self._missing),
        )

    # --- walking --------------------------------------------------------------------------------
    def _full_walk(self) -> None:
        seen: set[str] = set()
        self._missing.clear()
        for f in self.extra_files:
            if self._visit_file(f):
                seen.add(f)
            else:
                self._missing.add(f)
        for d in self.dirs:
            if os.path.isdir(d):
                self._walk_dir(d, seen)
            else:
                self._missing.add(d)
        for stale in self._entries.keys() - seen:
            self._drop(stale)

    def _walk_dir(self, d: str, seen: set[str]) -> None:
        """Recursively visit ``d``; record visited file paths in ``seen``."""
        try:
            it = os.scandir(d)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise SnapshotError(f"cannot list watched directory {d}: {exc.strerror}", path=d) from exc
        with it:
            entries = list(it)
        keep = self.path_filter
        for entry in entries:
            if is_kubelet_internal(entry.name):
                continue
            path = entry.path
            if not keep(path):
                continue
            try:
                is_link = entry.is_symlink()
                if entry.is_dir(follow_symlinks=True):
                    if not is_link:
                        self._walk_dir(path, seen)
                    continue
            except OSError:
                continue
            if self._visit_file(path):
                seen.add(path)

    def _under_config(self, path: str) -> bool:
        if path in self.extra_files:
            return True
        return any(path == d or path.startswith(d + os.sep) for d in self.dirs)

    def _refresh(self, path: str) -> None:
        """Re-examine one hinted path (see :meth:`snapshot`)."""
        path = self._collapse_internal(path)
        if not self._under_config(path):
            return
        if path not in self.extra_files and path not in self.dirs and not self._kept(path):
            self._forget(path)  # an ignored name (or one below an ignored dir) is never content
            return
        in_dir = any(path == d or path.startswith(d + os.sep) for d in self.dirs)
        if path in self.extra_files and not in_dir:
            if self._visit_file(path):
                self._missing.discard(path)
            else:
                self._forget(path)
                self._missing.add(path)
            return
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if path in self.dirs:
            if os.path.isdir(path):
                self._missing.discard(path)
            else:
                self._missing.add(path)
        if st is None:
            self._forget(path)
            if path in self.extra_files:
                self._missing.add(path)
            return
        if stat.S_ISDIR(st.st_mode) or (path in self.dirs and os.path.isdir(path)):
            seen: set[str] = set()
            self._walk_dir(path, seen)
            prefix = path + os.sep
            for stale in [p for p in self._entries if p.startswith(prefix) and p not in seen]:
                self._drop(stale)
            return
        if stat.S_ISLNK(st.st_mode) and os.path.isdir(path):
            self._forget(path)  # a link to a directory is never hashed as a file
            return
        if not self._visit_file(path):
            self._forget(path)
        elif path in self.extra_files:
            self._missing.discard(path)

    def _kept(self, path: str) -> bool:
        """False if ``path`` or a directory between its watched dir and it is filtered out."""
        keep = self.path_filter
        if keep is keep_all:
            return True
        for root in self.dirs:
            if path.startswith(root + os.sep):
                parts = path[len(root) + 1 :].split(os.sep)
                return all(keep(os.path.join(root, *parts[: i + 1])) for i in range(len(parts)))
        return keep(path)

    def _collapse_internal(self, path: str) -> str:
        """``/d/..data/x`` -> ``/d``: a hint inside kubelet internals means "the dir changed".

        Only components below a configured dir count (a configured path may itself contain ``..*``).
        """
        for root in self.dirs:
            if path.startswith(root + os.sep):
                parts = path[len(root) + 1 :].split(os.sep)
                for i, part in enumerate(parts):
                    if is_kubelet_internal(part):
                        return os.path.join(root, *parts[:i])
        return path

    def _forget(self, path: str) -> None:
        self._drop(path)
        prefix = path + os.sep
        for p in [p for p in self._entries if p.startswith(prefix)]:
            self._drop(p)

    def _drop(self, path: str) -> None:
        if self._entries.pop(path, None) is not None:
            self._order = None

    # --- one file -------------------------------------------------------------------------------
    def _visit_file(self, path: str) -> bool:
        """Stat and (if needed) hash ``path``; True if it is a regular file now in the cache."""
        for attempt in range(_VANISH_RETRIES):
            try:
                return self._visit_file_once(path)
            except FileNotFoundError:
                # Vanished between listing and opening (kubelet removing an old dir, an editor's
                # rename dance): look again, then give up on this file for this snapshot.
                if attempt + 1 < _VANISH_RETRIES:
                    time.sleep(0.001 * (attempt + 1))
                continue
            except _Changed:
                continue
        self._drop(path)
        return False

    def _visit_file_once(self, path: str) -> bool:
        try:
            st = os.stat(path)
        except NotADirectoryError:
            return False
        self.stats.files_statted += 1
        if not stat.S_ISREG(st.st_mode):
            self._drop(path)
            return False
        ident = _identity(st)
        cached = self._entries.get(path)
        if cached is not None and cached.identity == ident and not self._racy(cached):
            return True
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
                return False
            started = time.time_ns()
            h = hashlib.sha256()
            size = 0
            while chunk := os.read(fd, _READ_CHUNK):
                h.update(chunk)
                size += len(chunk)
            after = os.fstat(fd)
        except OSError as exc:
            raise SnapshotError(f"cannot read {path}: {exc.strerror}", path=path) from exc
        finally:
            os.close(fd)
        if _identity(before) != _identity(after):
            raise _Changed  # written while we read it: read again
        self.stats.files_hashed += 1
        self.stats.bytes_hashed += size
        if path not in self._entries:
            self._order = None
        digest = h.digest()
        part = _SEP + path.encode("utf-8", "surrogateescape") + _SEP + digest
        self._entries[path] = _Entry(_identity(after), digest, started, part)
        return True

    def _racy(self, entry: _Entry) -> bool:
        return entry.identity[3] >= entry.hashed_at_ns - self._racy_ns


class _Changed(Exception):
    """The file changed while it was being read."""
