"""Process plumbing for ``run``: spawn with CPU affinity, wait statuses, subreaper, zombie lookup.

Sources: ``prctl(2)`` (PR_SET_CHILD_SUBREAPER = 36, Linux >= 3.4), ``wait(2)``, ``proc(5)``
(``/proc/PID/task/TID/children``, ``/proc/PID/stat`` field 3 state, field 4 ppid),
``sched_setaffinity(2)``.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import subprocess
import time
from collections.abc import Mapping, Sequence

__all__ = ["Child", "exit_status_from_wait", "list_children", "set_child_subreaper"]

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def exit_status_from_wait(wait_status: int) -> int:
    """Map a raw ``waitpid`` status to a shell-style exit status.

    Returns:
        The exit code (0-255) if the process exited, ``128 + N`` if it was killed by signal N.

    Source: POSIX ``wait(2)`` macros; bash/docker report death by signal as 128 + N.
    """
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def set_child_subreaper() -> bool:
    """Mark this process as child subreaper (``prctl(PR_SET_CHILD_SUBREAPER, 1)``).

    Orphaned descendants are then re-parented to us instead of to PID 1, so we can reap them.

    Returns:
        True on success, False if the call failed (logged; non-Linux or seccomp).

    Source: ``prctl(2)``, Linux >= 3.4.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            log.warning("cannot become child subreaper", extra={"errno": err, "err": os.strerror(err)})
            return False
    except OSError as exc:
        log.warning("cannot become child subreaper", extra={"err": str(exc)})
        return False
    return True


def _read_stat(pid: int, proc_root: str = "/proc") -> tuple[str, int] | None:
    """Return (state, ppid) of ``pid`` from ``/proc/PID/stat``, or None if it is gone."""
    try:
        with open(f"{proc_root}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ")"
    rest = data[data.rfind(b")") + 2 :].split()
    if len(rest) < 2:
        return None
    return rest[0].decode("ascii", "replace"), int(rest[1])


def list_children(pid: int | None = None, proc_root: str = "/proc") -> dict[int, str]:
    """Return ``{child_pid: state}`` for the direct children of ``pid`` (default: this process).

    Uses ``/proc/PID/task/*/children`` (CONFIG_PROC_CHILDREN) and falls back to scanning every
    ``/proc/*/stat`` for the parent pid. States are ``proc(5)`` letters (``"Z"`` = zombie).
    """
    me = os.getpid() if pid is None else pid
    pids: set[int] = set()
    found_children_files = False
    try:
        tids = os.listdir(f"{proc_root}/{me}/task")
    except OSError:
        tids = []
    for tid in tids:
        try:
            with open(f"{proc_root}/{me}/task/{tid}/children") as f:
                pids.update(int(p) for p in f.read().split())
            found_children_files = True
        except (OSError, ValueError):
            continue
    if not found_children_files:
        try:
            entries = os.listdir(proc_root)
        except OSError:
            entries = []
        for e in entries:
            if e.isdigit():
                st = _read_stat(int(e), proc_root)
                if st is not None and st[1] == me:
                    pids.add(int(e))
    out: dict[int, str] = {}
    for p in pids:
        st = _read_stat(p, proc_root)
        if st is not None:
            out[p] = st[0]
    return out


class Child:
    """One incarnation of the child process, started at once with ``cpus`` as its CPU affinity.

    The affinity is set in the forked child before ``exec`` (so no thread of the command ever runs
    elsewhere). Reaping is not done here: the supervisor calls :meth:`mark_exited` with the raw
    wait status it got from ``waitpid``.

    Raises:
        OSError: from ``subprocess.Popen`` (FileNotFoundError, PermissionError, ...).
    """

    def __init__(self, argv: Sequence[str], *, cpus: frozenset[int] | None, env: Mapping[str, str] | None):
        def _preexec() -> None:  # runs in the forked child before exec: pin before any thread exists
            if cpus is not None:
                os.sched_setaffinity(0, cpus)

        self.popen = subprocess.Popen(  # the user's command, by design
            list(argv),
            env=dict(env) if env is not None else None,
            preexec_fn=_preexec if cpus is not None else None,
            close_fds=True,
        )
        self.pid: int = self.popen.pid
        self.started = time.monotonic()
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.exit_status: int | None = None
        self.exitcode: int | None = None
        """``os.waitstatus_to_exitcode`` form: negative = killed by that signal."""

    def mark_exited(self, wait_status: int) -> None:
        """Record the raw ``waitpid`` status and wake whoever awaits :attr:`exited`."""
        status = exit_status_from_wait(wait_status)
        self.exitcode = os.waitstatus_to_exitcode(wait_status)
        self.exit_status = status
        self.popen.returncode = status  # Popen must never waitpid() it again
        if not self.exited.done():
            self.exited.set_result(status)

    @property
    def alive(self) -> bool:
        return self.exit_status is None

    def send(self, sig: int) -> bool:
        """Send ``sig``; False if the child is already gone."""
        if not self.alive:
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True
