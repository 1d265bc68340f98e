"""Public test helpers: deadline-based waiting, the three kinds of writers a reloader meets, and
(re-exported from :mod:`config_reloader.recording`) a recording reload endpoint.

Writers:

* :func:`atomic_replace` - what a well-behaved writer does (temp in the same dir, fsync, rename,
  fsync dir);
* :func:`write_in_place` - truncate-then-write, optionally in chunks with pauses: the non-atomic
  writer that makes naive reloaders read empty or partial files;
* :class:`KubeletAtomicWriter` - kubelet's ConfigMap/Secret volume update (timestamped dir,
  ``..data`` symlink swap), step for step as kubernetes' ``atomic_writer.go``.

Processes: :func:`kill_run` ends a ``config-reloader run`` process and its child's process group
(a test's last resort when a graceful stop failed).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping

from config_reloader.atomic import atomic_write
from config_reloader.recording import RecordedReload, RecordingEndpoint
from config_reloader.watch.snapshot import KUBELET_DATA

__all__ = [
    "KubeletAtomicWriter",
    "RecordedReload",
    "RecordingEndpoint",
    "atomic_replace",
    "kill_run",
    "wait_until",
    "write_in_place",
]


def kill_run(pid: int) -> None:
    """SIGKILL ``config-reloader run`` (pid ``pid``, started in a session of its own, e.g.
    ``subprocess.Popen(..., start_new_session=True)``) and its child.

    ``run`` starts its child in a session and process group of its own, so killing run's group
    does not reach the child (e.g. a Prometheus): each direct child's group is killed first, then
    run's. Processes already gone are ignored. Does not wait for them.
    """
    import contextlib
    import signal

    from config_reloader.supervise.process import list_children

    for child in list_children(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


DATA_DIR_NAME = KUBELET_DATA
DATA_TMP_NAME = "..data_tmp"


async def wait_until(
    pred: Callable[[], bool | Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109 - the documented contract (docs/INTERFACES.md)
    interval: float = 0.01,
) -> None:
    """Wait until ``pred()`` is true, checking every ``interval`` seconds, for at most ``timeout``.

    ``pred`` may be a plain function or return an awaitable. The deadline is absolute (monotonic
    clock), so a slow predicate does not stretch it; the predicate is checked once more at the
    deadline.

    Raises:
        TimeoutError: the predicate was still false at the deadline (message names it).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = pred()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        now = time.monotonic()
        if now >= deadline:
            name = getattr(pred, "__qualname__", repr(pred))
            raise TimeoutError(f"condition {name} still false after {timeout:g}s")
        await asyncio.sleep(min(interval, deadline - now))


def atomic_replace(path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` atomically (:func:`config_reloader.atomic.atomic_write`, durable)."""
    atomic_write(os.fspath(path), data, mode)


def write_in_place(path: str | os.PathLike[str], data: bytes, *, chunks: int = 1, pause: float = 0.0) -> None:
    """The non-atomic writer: ``open(O_WRONLY|O_CREAT|O_TRUNC)``, write ``data`` in ``chunks``
    roughly equal parts sleeping ``pause`` seconds before each, then close.

    Between the open and the close a reader can see an empty or partial file; watchers see
    ``IN_MODIFY`` for the truncate and the writes, and ``IN_CLOSE_WRITE`` at the end. Blocking:
    call it from a thread (``asyncio.to_thread``) when a loop must keep running.
    """
    if chunks < 1:
        raise ValueError("chunks must be >= 1")
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        step = -(-len(data) // chunks) if data else 0
        for i in range(chunks):
            if pause:
                time.sleep(pause)
            part = data[i * step : (i + 1) * step] if step else b""
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class KubeletAtomicWriter:
    """Simulates kubelet's ``AtomicWriter.Write`` on ``target_dir`` (a ConfigMap volume).

    Each :meth:`write` with a changed payload: new ``..<UTC timestamp>.<random>`` dir (0755) with
    every key written (open/write/close + chmod), ``..data_tmp -> <new dir>`` symlink renamed over
    ``..data``, a ``<key> -> ..data/<key>`` link for each new top-level key, removal of links of
    keys that disappeared, removal of the old dir. An identical payload changes nothing on disk.
    Source: kubernetes ``pkg/volume/util/atomic_writer.go``.

    Args:
        target_dir: the volume directory (created if missing).
        mode: mode of the key files (kubelet's ``defaultMode``, 0644).
        hook: optional ``hook(step_name)`` called between steps (``"dir-written"``,
            ``"data-swapped"``, ``"links-updated"``, ``"old-removed"``) to observe transient states.
    """

    def __init__(
        self,
        target_dir: str | os.PathLike[str],
        *,
        mode: int = 0o644,
        hook: Callable[[str], None] | None = None,
    ) -> None:
        self.target_dir = os.path.abspath(os.fspath(target_dir))
        self.mode = mode
        self._hook = hook or (lambda step: None)
        if not os.path.isdir(self.target_dir):
            # kubelet's volume dir is world-readable whatever the umask of the process creating it
            os.makedirs(self.target_dir)
            os.chmod(self.target_dir, 0o755)

    def _validate(self, key: str) -> str:
        norm = os.path.normpath(key)
        parts = norm.split(os.sep)
        if os.path.isabs(key) or ".." in parts or norm.startswith("..") or not key or norm == ".":
            raise ValueError(f"invalid payload path {key!r}")
        return norm

    def _old_files(self, old_dir: str) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for root, _dirs, names in os.walk(old_dir):
            for name in names:
                full = os.path.join(root, name)
                with open(full, "rb") as f:
                    files[os.path.relpath(full, old_dir)] = f.read()
        return files

    def write(self, payload: Mapping[str, bytes]) -> bool:
        """Project ``payload`` (relative path -> bytes); True if anything changed on disk."""
        payload = {self._validate(k): v for k, v in payload.items()}
        target = self.target_dir
        data_link = os.path.join(target, DATA_DIR_NAME)
        try:
            old_name: str | None = os.readlink(data_link)
        except FileNotFoundError:
            old_name = None
        old_dir = os.path.join(target, old_name) if old_name else None
        old_files = self._old_files(old_dir) if old_dir and os.path.isdir(old_dir) else {}
        to_remove = set(old_files) - set(payload)
        if old_name is not None and old_files == payload and not to_remove:
            self._create_user_links(payload)
            return False

        prefix = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
        new_dir = tempfile.mkdtemp(dir=target, prefix=prefix)
        os.chmod(new_dir, 0o755)
        for key, data in payload.items():
            full = os.path.join(new_dir, key)
            sub = os.path.dirname(key)
            for depth in range(1, len(sub.split(os.sep)) + 1 if sub else 0):
                d = os.path.join(new_dir, *sub.split(os.sep)[:depth])
                if not os.path.isdir(d):
                    os.mkdir(d)
                    os.chmod(d, 0o755)  # like the timestamped dir: not the caller's umask
            with open(full, "wb") as f:
                f.write(data)
            os.chmod(full, self.mode)
        self._hook("dir-written")

        tmp_link = os.path.join(target, DATA_TMP_NAME)
        try:
            os.symlink(os.path.basename(new_dir), tmp_link)
            os.rename(tmp_link, data_link)
        except OSError:
            if os.path.lexists(tmp_link):
                os.unlink(tmp_link)
            shutil.rmtree(new_dir, ignore_errors=True)
            raise
        self._hook("data-swapped")

        self._create_user_links(payload)
        top_new = {k.split(os.sep, 1)[0] for k in payload}
        for name in {k.split(os.sep, 1)[0] for k in to_remove} - top_new:
            link = os.path.join(target, name)
            if os.path.islink(link):
                os.unlink(link)
        self._hook("links-updated")

        if old_dir is not None:
            shutil.rmtree(old_dir, ignore_errors=True)
        self._hook("old-removed")
        return True

    def _create_user_links(self, payload: Mapping[str, bytes]) -> None:
        for name in sorted({k.split(os.sep, 1)[0] for k in payload}):
            link = os.path.join(self.target_dir, name)
            if not os.path.lexists(link):
                os.symlink(os.path.join(DATA_DIR_NAME, name), link)
