"""Content snapshots of the watched paths: per-file SHA-256 with an identity cache (rule R5, docs/design.md).

What is hashed (Thanos ``pkg/reloader`` semantics, so both compute the same digests):

* each *extra file* (the config file) under its path as given, opened through symlinks;
* every regular file below each watched dir, recursively, under ``<dir as configured>/<relative
  path>``; symlinks to files are followed; directories and symlinks to directories are not hashed
  as files (and symlinked dirs are not descended, like Go's ``filepath.Walk``); FIFOs, sockets and
  devices are skipped (reading a FIFO would block), and so are dangling symlinks and symlink loops
  (``ln -s loop loop``; a debug line names each loop). An extra file that is a symlink loop is an error
  (:class:`~config_reloader.errors.SnapshotError`); one that is missing or dangling is listed in
  ``Snapshot.missing``;
* names starting with ``..`` are skipped at every level (kubelet internals ``..data``,
  ``..2026_…``): the user-visible links already reach that content, and walking the timestamped dir
  races kubelet removing it mid-update (Thanos failed its reload on that race).

Digest format, two levels (a Merkle tree one directory deep), files grouped by the directory that
holds them (``os.path.split(path)``; a nested dir is a group of its own):

* directory digest = ``sha256( for each file in sorted name order: 0xFF ‖ name ‖ 0xFF ‖ sha256(content) )``;
* digest = ``sha256( for each non-empty directory in sorted path order: 0xFF ‖ dir ‖ 0xFF ‖ dir digest )``.

Thanos feeds every file's path and *content* into one hash; we feed content digests, grouped by
directory. What is included, the paths and the order are the same, so the digest changes exactly when
Thanos' would. The two levels are what make the cache pay: a hint about one file rehashes that file,
then recombines its directory and the top level only (not every file's digest: 10,000 files in 100
dirs cost ~200 digests per change instead of 10,000), and memory stays bounded (one 80-byte record
per file, keyed by its name; no contents). :func:`thanos_digest` computes Thanos' exact value when a
byte-for-byte comparison is wanted.

Deviations from Thanos, on purpose: a watched dir that is a symlink is hashed under its configured
path, not its resolved one, so retargeting the link to identical content is not a change; and names
rejected by ``path_filter`` (writers' temp files, editor backups and locks:
:mod:`config_reloader.watch.ignore`) are not part of the digest.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time

from config_reloader.errors import SnapshotError
from config_reloader.record import Record, record
from config_reloader.watch.digests import (
    DIGEST_AT,
    ID_END,
    KUBELET_DATA,
    SEP,
    FileChanged,
    FileDigests,
    Tree,
    fs_bytes,
    identity_record,
    is_kubelet_internal,
    is_racy,
    read_record,
    thanos_digest,
)
from config_reloader.watch.ignore import PathFilter, keep_all

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "KUBELET_DATA",
    "FileDigests",
    "Snapshot",
    "SnapshotStats",
    "Snapshotter",
    "is_kubelet_internal",
    "thanos_digest",
]

_VANISH_RETRIES = 3


@record
class Snapshot(Record):
    """The content state of the watched paths at one moment (an immutable record: the sidecar's
    first reload takes a snapshot before anything has loaded :mod:`dataclasses`).

    Attributes:
        digest: 32-byte SHA-256, see the module docstring for the format.
        files: path -> SHA-256 of the file's content, for every file included (a read-only
            :class:`FileDigests` view from :class:`Snapshotter`; any mapping when built by hand).
        missing: configured extra files or dirs that did not exist (or were unreadable as such).
    """

    digest: bytes
    files: Mapping[str, bytes]
    missing: frozenset[str] = frozenset()

    @property
    def hexdigest(self) -> str:
        return self.digest.hex()


class SnapshotStats:
    """Counters since construction (tests and bench read them): ``snapshots``, ``files_statted``,
    ``files_hashed``, ``bytes_hashed``."""

    __slots__ = ("bytes_hashed", "files_hashed", "files_statted", "snapshots")

    def __init__(self) -> None:
        self.snapshots = 0
        self.files_statted = 0
        self.files_hashed = 0
        self.bytes_hashed = 0

    def __repr__(self) -> str:
        return (
            f"SnapshotStats(snapshots={self.snapshots}, files_statted={self.files_statted}, "
            f"files_hashed={self.files_hashed}, bytes_hashed={self.bytes_hashed})"
        )


class Snapshotter:
    """Digests ``dirs`` (recursively) and ``extra_files`` with a per-file cache keyed by identity.

    Not thread-safe: call :meth:`snapshot` from one thread at a time (it may run in a worker thread).

    Args:
        dirs: watched directories (configured paths; may be symlinks; may not exist yet).
        extra_files: single files (the config file); may not exist yet.
        racy_margin: seconds. A cached digest is trusted only if the file's mtime is at least this
            much older than the moment it was hashed (the "racy git" rule: filesystems with coarse
            timestamps can hide a same-size rewrite inside one tick).
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
        self._tree: Tree = {}  # never holds an empty inner dict
        self._private: set[str] = set()  # dirs whose inner dict no published snapshot shares
        self._dir_digests: dict[str, bytes] = {}  # cached; absent = recompute
        self._digest: bytes | None = None  # cached top level; None = recompute
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

        Cost besides stat/hash: recombining each changed directory (sorted names) and the top
        level (sorted dirs), plus an O(number of dirs) copy for the ``files`` view; never
        O(number of files) unless every directory changed.

        Raises:
            SnapshotError: a file exists but cannot be read (e.g. EACCES), or an extra file is a
                symlink loop. Files vanishing during the walk are retried a few times, then
                skipped, never an error; so are dangling symlinks and symlink loops below the dirs.
        """
        if hinted is None:
            self._full_walk()
        else:
            for path in hinted:
                self._refresh(os.path.abspath(path))
        self.stats.snapshots += 1
        if self._digest is None:
            self._digest = self._combine()
        self._private.clear()  # from now on the view below shares every inner dict
        return Snapshot(
            digest=self._digest,
            files=FileDigests(dict(self._tree)),
            missing=frozenset(self._missing),
        )

    # --- the digest -----------------------------------------------------------------------------
    def _combine(self) -> bytes:
        tree, cache = self._tree, self._dir_digests
        top = hashlib.sha256()
        for d in sorted(tree):
            dd = cache.get(d)
            if dd is None:
                recs = tree[d]
                dd = hashlib.sha256(
                    b"".join([SEP + fs_bytes(n) + SEP + recs[n][DIGEST_AT:] for n in sorted(recs)])
                ).digest()
                cache[d] = dd
            top.update(SEP + fs_bytes(d) + SEP + dd)
        return top.digest()

    def _writable(self, d: str) -> dict[str, bytes]:
        """The inner dict of ``d`` for changing it (copied first if a snapshot shares it)."""
        self._dir_digests.pop(d, None)
        self._digest = None
        if d in self._private:
            return self._tree[d]
        recs = dict(self._tree.get(d, ()))
        self._tree[d] = recs
        self._private.add(d)
        return recs

    def _store(self, d: str, name: str, rec: bytes) -> None:
        self._writable(d)[name] = rec

    def _drop(self, path: str) -> None:
        d, name = os.path.split(path)
        self._drop_names(d, (name,))

    def _drop_names(self, d: str, names: Iterable[str]) -> None:
        recs = self._tree.get(d)
        if recs is None:
            return
        gone = [n for n in names if n in recs]
        if not gone:
            return
        recs = self._writable(d)
        for n in gone:
            del recs[n]
        if not recs:
            del self._tree[d]
            self._private.discard(d)

    def _drop_dir(self, d: str) -> None:
        if self._tree.pop(d, None) is not None:
            self._private.discard(d)
            self._dir_digests.pop(d, None)
            self._digest = None

    # --- walking --------------------------------------------------------------------------------
    def _full_walk(self) -> None:
        seen: dict[str, set[str]] = {}
        self._missing.clear()
        for f in self.extra_files:
            if self._visit_file(f):
                d, name = os.path.split(f)
                seen.setdefault(d, set()).add(name)
            else:
                self._missing.add(f)
        for d in self.dirs:
            if os.path.isdir(d):
                self._walk_dir(d, seen)
            else:
                self._missing.add(d)
        self._drop_unseen(list(self._tree), seen)

    def _drop_unseen(self, dirs: Iterable[str], seen: dict[str, set[str]]) -> None:
        for d in dirs:
            names = seen.get(d)
            if names is None:
                self._drop_dir(d)
            else:
                recs = self._tree.get(d)
                if recs is not None and len(recs) != len(names):
                    self._drop_names(d, [n for n in recs if n not in names])

    def _walk_dir(self, d: str, seen: dict[str, set[str]]) -> None:
        """Recursively visit ``d``; record visited file names in ``seen[dir]``."""
        try:
            it = os.scandir(d)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise SnapshotError(f"cannot list watched directory {d}: {exc.strerror}", path=d) from exc
        with it:
            entries = list(it)
        keep = self.path_filter
        here: set[str] | None = None
        for entry in entries:
            name = entry.name
            if is_kubelet_internal(name):
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
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    self._skip_loop(path)
                continue
            if self._visit_file(path, d, name):
                if here is None:
                    here = seen.setdefault(d, set())
                here.add(name)

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
            seen: dict[str, set[str]] = {}
            self._walk_dir(path, seen)
            self._drop_unseen(self._dirs_below(path), seen)
            return
        if stat.S_ISLNK(st.st_mode) and os.path.isdir(path):
            self._forget(path)  # a link to a directory is never hashed as a file
            return
        if not self._visit_file(path):
            self._forget(path)
        elif path in self.extra_files:
            self._missing.discard(path)

    def _dirs_below(self, path: str) -> list[str]:
        """Cached dirs that are ``path`` or below it."""
        prefix = path + os.sep
        return [d for d in self._tree if d == path or d.startswith(prefix)]

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
        for d in self._dirs_below(path):
            self._drop_dir(d)

    # --- one file -------------------------------------------------------------------------------
    def _visit_file(self, path: str, d: str | None = None, name: str | None = None) -> bool:
        """Stat and (if needed) hash ``path`` (= ``d/name``); True if it is a regular file now cached."""
        if d is None or name is None:
            d, name = os.path.split(path)
        for attempt in range(_VANISH_RETRIES):
            try:
                return self._visit_file_once(path, d, name)
            except FileNotFoundError:
                # Vanished between listing and opening (kubelet removing an old dir, an editor's
                # rename dance): look again, then give up on this file for this snapshot.
                if attempt + 1 < _VANISH_RETRIES:
                    time.sleep(0.001 * (attempt + 1))
                continue
            except FileChanged:
                continue
        self._drop_names(d, (name,))
        return False

    def _visit_file_once(self, path: str, d: str, name: str) -> bool:
        try:
            st = os.stat(path)
        except NotADirectoryError:
            return False
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            if path in self.extra_files:
                # The config file is named on purpose: a loop there is a broken deployment, not
                # a stray entry. Unlike a dangling link (missing, not an error) the link exists.
                raise SnapshotError(
                    f"config file {path} is a symlink loop (too many levels of symbolic links): "
                    "it cannot be read until the link points at a file",
                    path=path,
                ) from exc
            self._skip_loop(path)
            return False
        self.stats.files_statted += 1
        if not stat.S_ISREG(st.st_mode):
            self._drop_names(d, (name,))
            return False
        ident = identity_record(st)
        recs = self._tree.get(d)
        cached = None if recs is None else recs.get(name)
        if cached is not None and cached[:ID_END] == ident and not self._racy(cached):
            return True
        read = read_record(path)
        if read is None:
            return False
        rec, size = read
        self.stats.files_hashed += 1
        self.stats.bytes_hashed += size
        if rec != cached:
            self._store(d, name, rec)
        return True

    def _skip_loop(self, path: str) -> None:
        # Like a dangling link: not content, not an error (``ln -s loop loop`` in a watched dir
        # must not stop every other file from being applied).
        import logging  # not at the top: the sidecar's first reload hashes before logging loads

        logging.getLogger(__name__).debug("skipping symlink loop in watched dir", extra={"cfg_path": path})

    def _racy(self, rec: bytes) -> bool:
        return is_racy(rec, self._racy_ns)
