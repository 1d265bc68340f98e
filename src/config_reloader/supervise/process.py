"""Process plumbing for ``run``: spawn in a new session with CPU affinity, wait statuses,
process-group members, subreaper, zombie lookup.

Sources: ``prctl(2)`` (PR_SET_CHILD_SUBREAPER = 36, Linux >= 3.4), ``wait(2)`` / ``waitid(2)``
(``WNOWAIT``: look at an exit without reaping), ``setsid(2)``, ``kill(2)`` (a negative pid
signals a process group), ``proc(5)`` (``/proc/PID/task/TID/children``, ``/proc/PID/stat`` field
3 state, field 4 ppid, field 5 pgrp), ``sched_setaffinity(2)``.
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

from config_reloader.sigstate import reset_for_exec

__all__ = [
    "Child",
    "exit_status_from_wait",
    "list_children",
    "process_group_members",
    "set_child_subreaper",
]

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


def _read_stat3(pid: int, proc_root: str = "/proc") -> tuple[str, int, int] | None:
    """Return (state, ppid, pgrp) of ``pid`` from ``/proc/PID/stat``, or None if it is gone."""
    try:
        with open(f"{proc_root}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ")"
    rest = data[data.rfind(b")") + 2 :].split()
    if len(rest) < 3:
        return None
    try:
        return rest[0].decode("ascii", "replace"), int(rest[1]), int(rest[2])
    except ValueError:
        return None


def _read_stat(pid: int, proc_root: str = "/proc") -> tuple[str, int] | None:
    """Return (state, ppid) of ``pid`` from ``/proc/PID/stat``, or None if it is gone."""
    st = _read_stat3(pid, proc_root)
    return None if st is None else (st[0], st[1])


def _children_from_files(pid: int, proc_root: str) -> set[int] | None:
    """Direct children of ``pid`` from ``/proc/PID/task/*/children``; None when none of those
    files could be read (no CONFIG_PROC_CHILDREN, or the process is gone)."""
    try:
        tids = os.listdir(f"{proc_root}/{pid}/task")
    except OSError:
        return None
    pids: set[int] = set()
    found = False
    for tid in tids:
        try:
            with open(f"{proc_root}/{pid}/task/{tid}/children") as f:
                pids.update(int(p) for p in f.read().split())
            found = True
        except (OSError, ValueError):
            continue
    return pids if found else None


def list_children(pid: int | None = None, proc_root: str = "/proc") -> dict[int, str]:
    """Return ``{child_pid: state}`` for the direct children of ``pid`` (default: this process).

    Uses ``/proc/PID/task/*/children`` (CONFIG_PROC_CHILDREN) and falls back to scanning every
    ``/proc/*/stat`` for the parent pid. States are ``proc(5)`` letters (``"Z"`` = zombie).
    """
    me = os.getpid() if pid is None else pid
    pids = _children_from_files(me, proc_root)
    if pids is None:
        pids = set()
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


def process_group_members(
    pgid: int, proc_root: str = "/proc", *, within: int | None = None
) -> dict[int, str]:
    """Return ``{pid: state}`` for every process whose process group is ``pgid``.

    Args:
        pgid: the process group id.
        proc_root: where procfs is mounted (tests).
        within: a pid whose descendants are known to include every member (we are PID 1 of the
            PID namespace, or child subreaper and the group's leader is our child): only that
            subtree is walked (``/proc/PID/task/*/children``). None, or when those files cannot
            be read: every ``/proc/PID/stat`` is read (one file per process on the machine).

    States are ``proc(5)`` letters; zombies (``"Z"``) are included, so callers that want the
    running ones filter them out.
    """
    out: dict[int, str] = {}
    if within is not None and _children_from_files(within, proc_root) is not None:
        todo = [within]
        seen: set[int] = set()
        while todo:
            pid = todo.pop()
            for c in _children_from_files(pid, proc_root) or ():  # None: it exited meanwhile
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        candidates: list[int] = sorted(seen)
    else:
        try:
            candidates = [int(e) for e in os.listdir(proc_root) if e.isdigit()]
        except OSError:
            return out
    for p in candidates:
        st = _read_stat3(p, proc_root)
        if st is not None and st[2] == pgid:
            out[p] = st[0]
    return out


def _wait_status_from_waitid(res: os.waitid_result) -> int:
    """The raw ``waitpid``-style status for a ``waitid`` answer about an exited process."""
    if res.si_code == os.CLD_EXITED:
        return (res.si_status & 0xFF) << 8
    core = 0x80 if res.si_code == os.CLD_DUMPED else 0
    return (res.si_status & 0x7F) | core


class Child:
    """One incarnation of the child process, started at once in a new session (``setsid``), with
    ``cpus`` as its CPU affinity.

    The child is the leader of a new session and process group (pgid = :attr:`pid`), as
    dumb-init does by default ("setsid mode") and tini does with ``-g``: a terminal's
    Ctrl-C/Ctrl-\\ reach only the supervisor's group, which forwards them once, and stop signals
    can reach the child's own children too (:meth:`signal_group`). Side effect, documented in
    docs/run.md: the child has no controlling terminal (no ``/dev/tty``; job-control signals
    come from the supervisor, never from the terminal).

    The affinity is set in the forked child before ``exec`` (so no thread of the command ever runs
    elsewhere). Reaping is not done here: the supervisor calls :meth:`mark_exited` (from
    :meth:`poll_exit`, which leaves the child a zombie) and :meth:`reap` when it is done with the
    process group. While the child is unreaped its pid cannot be reused, so :meth:`signal_group`
    cannot reach an unrelated group.

    Raises:
        OSError: from ``subprocess.Popen`` (FileNotFoundError, PermissionError, ...).
    """

    def __init__(self, argv: Sequence[str], *, cpus: frozenset[int] | None, env: Mapping[str, str] | None):
        def _preexec() -> None:  # runs in the forked child before exec: pin before any thread exists
            reset_for_exec()  # not run's own inherited ignores and blocked mask (sigstate.py)
            if cpus is not None:
                os.sched_setaffinity(0, cpus)

        self.popen = subprocess.Popen(  # the user's command, by design
            list(argv),
            env=dict(env) if env is not None else None,
            preexec_fn=_preexec,
            close_fds=True,
            start_new_session=True,  # setsid() in the forked child, before _preexec and exec
        )
        self.pid: int = self.popen.pid
        self.started = time.monotonic()
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.exit_status: int | None = None
        self.exitcode: int | None = None
        """``os.waitstatus_to_exitcode`` form: negative = killed by that signal."""
        self.reaped = False
        """True once the zombie was collected: :attr:`pid` may then belong to anyone."""

    @property
    def pgid(self) -> int:
        """The child's process group (and session) id: its own pid."""
        return self.pid

    def mark_exited(self, wait_status: int) -> None:
        """Record the raw ``waitpid`` status and wake whoever awaits :attr:`exited`."""
        status = exit_status_from_wait(wait_status)
        self.exitcode = os.waitstatus_to_exitcode(wait_status)
        self.exit_status = status
        self.popen.returncode = status  # Popen must never waitpid() it again
        if not self.exited.done():
            self.exited.set_result(status)

    def poll_exit(self) -> bool:
        """Record the exit if the child has exited, without reaping it (``waitid(WNOWAIT)``).

        Returns:
            True if the child has exited (now or before).

        Raises:
            ChildProcessError: the child is not ours to wait for (reaped by someone else).
        """
        if not self.alive:
            return True
        res = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if res is None or res.si_pid != self.pid:
            return False
        self.mark_exited(_wait_status_from_waitid(res))
        return True

    def reap(self) -> None:
        """Collect the zombie once :meth:`poll_exit` has seen the exit (no-op before; idempotent)."""
        if self.reaped or self.alive:
            return
        try:
            os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        self.reaped = True

    @property
    def alive(self) -> bool:
        return self.exit_status is None

    def send(self, sig: int) -> bool:
        """Send ``sig`` to the child alone; False if it has already exited."""
        if not self.alive:
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the child's whole process group (``killpg``), as a terminal does.

        Works after the child itself exited, until :meth:`reap`: the unreaped zombie keeps the
        group id from being reused. Returns False once reaped or when the group is empty.
        """
        if self.reaped:
            return False
        try:
            os.killpg(self.pgid, sig)
        except (ProcessLookupError, PermissionError):  # EPERM: no member may be signalled by us
            return False
        return True

    def group_running(self, *, within: int | None = None, proc_root: str = "/proc") -> list[int]:
        """Pids of the child's process group that are not zombies (the child included while it
        runs), sorted; empty once reaped. ``within``: as for :func:`process_group_members`."""
        if self.reaped:
            return []
        members = process_group_members(self.pgid, proc_root, within=within)
        return sorted(p for p, st in members.items() if st not in ("Z", "X"))
