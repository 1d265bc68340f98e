"""Reload by signal (default SIGHUP), Thanos ``PIDReloader`` style, with a readiness gate.

Facts: Thanos finds the target by executable name through the process list, which needs a shared
PID namespace in Kubernetes (``shareProcessNamespace: true``). ``/proc/PID/comm`` holds at most 15 characters
(``TASK_COMM_LEN`` 16 with the NUL, proc(5)), so longer names are matched through the basename of
``/proc/PID/exe`` (or the truncated comm as a fallback). A process that has not installed its
handler yet is killed by SIGHUP's default action (prometheus/prometheus#14917); the
``SigCgt`` mask in ``/proc/PID/status`` (proc(5)) tells whether a handler is installed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal as _signal
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..bounded_read import file_kind
from ..errors import ReloadError, ReloadTimeout, TargetNotFound, TargetNotReady
from . import _require_positive_seconds

__all__ = [
    "PidFile",
    "PidSource",
    "ProcessName",
    "SignalReload",
    "find_processes",
    "signal_disposition",
]

log = logging.getLogger(__name__)

COMM_LEN = 15  # visible characters of /proc/PID/comm (TASK_COMM_LEN - 1)


PROCESS_MATCHES = ("oldest", "all", "single")
"""What signal mode does when several processes match (see :class:`ProcessName`)."""


@dataclass(frozen=True, slots=True)
class ProcessName:
    """Find the target by executable name (``--process-executable-name``).

    A process matches when the basename of ``/proc/PID/exe`` equals ``name``, or its
    ``/proc/PID/comm`` equals ``name`` cut to 15 characters. Our own process and zombies are never
    chosen. With several matches ``match`` decides (``--process-match``):

    - ``"oldest"`` (default): the oldest (smallest start time, then pid) is signalled, and the
      choice is logged. Thanos signals the first match in ``/proc`` order, in practice the smallest
      pid: the same process unless pids wrapped around.
    - ``"all"``: every match is signalled; the attempt fails if one signal fails.
    - ``"single"``: more than one match is an error (nothing is signalled): the target is ambiguous.

    Attributes:
        name: executable name, e.g. ``"prometheus"``.
        proc_root: the procfs mount (tests may point it elsewhere).
        match: ``"oldest"``, ``"all"`` or ``"single"``.
    """

    name: str
    proc_root: str = "/proc"
    match: str = "oldest"

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"process name must be a non-empty basename, got {self.name!r}")
        if self.match not in PROCESS_MATCHES:
            raise ValueError(f"process match must be one of {', '.join(PROCESS_MATCHES)}, got {self.match!r}")

    def __str__(self) -> str:
        return f"process named {self.name!r}"


@dataclass(frozen=True, slots=True)
class PidFile:
    """Read the target's pid from a file (first line, decimal).

    Attributes:
        path: the pid file.
    """

    path: str

    def __str__(self) -> str:
        return f"pid file {self.path}"


PidSource = ProcessName | PidFile | Callable[[], int | None]
"""Where the pid comes from; a callable (``run``'s child) returns ``None`` when there is no process."""


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _start_time(proc_root: str, pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from ``/proc/PID/stat`` (fields 3 and 22)."""
    stat = _read(f"{proc_root}/{pid}/stat")
    if stat is None:
        return None
    rest = stat.rpartition(")")[2].split()  # comm may contain spaces and parentheses
    try:
        return rest[0], int(rest[19])
    except (IndexError, ValueError):
        return None


def find_processes(name: str, proc_root: str = "/proc") -> tuple[list[int], int]:
    """All live pids whose executable is ``name`` (see :class:`ProcessName`), best first.

    Returns:
        ``(pids, scanned)``: matching pids ordered by (start time, pid), and how many processes
        were looked at.
    """
    me = os.getpid()
    short = name[:COMM_LEN]
    found: list[tuple[int, int]] = []
    scanned = 0
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return [], 0
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        scanned += 1
        if pid == me:
            continue
        try:
            exe = os.path.basename(os.readlink(f"{proc_root}/{pid}/exe"))
        except OSError:  # kernel thread, gone, or not ours to read
            exe = ""
        exe = exe.removesuffix(" (deleted)")  # binary replaced on disk (package upgrade)
        if exe != name:
            comm = (_read(f"{proc_root}/{pid}/comm") or "").rstrip("\n")
            if comm != short:
                continue
        st = _start_time(proc_root, pid)
        if st is None or st[0] in ("Z", "X"):
            continue
        found.append((st[1], pid))
    found.sort()
    return [pid for _, pid in found], scanned


def signal_disposition(pid: int, sig: int, proc_root: str = "/proc") -> str | None:
    """How ``pid`` handles ``sig`` now: ``"caught"``, ``"ignored"``, ``"blocked"`` or
    ``"default"``; ``None`` if ``/proc/PID/status`` cannot be read.

    Source: proc(5), ``SigCgt``/``SigIgn``/``SigBlk`` hexadecimal masks (bit ``sig - 1``).
    """
    status = _read(f"{proc_root}/{pid}/status")
    if status is None:
        return None
    masks: dict[str, int] = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("SigCgt", "SigIgn", "SigBlk"):
            try:
                masks[key] = int(value.strip(), 16)
            except ValueError:
                return None
    bit = 1 << (sig - 1)
    if masks.get("SigCgt", 0) & bit:
        return "caught"
    if masks.get("SigIgn", 0) & bit:
        return "ignored"
    if masks.get("SigBlk", 0) & bit:
        return "blocked"
    return "default" if masks else None


class SignalReload:
    """Send a signal to the target process.

    Args:
        signal: signal number (``signal.SIGHUP``).
        target: :class:`ProcessName`, :class:`PidFile` or a callable returning the pid or ``None``.
        timeout: seconds for the whole attempt (finding the pid, the readiness gate, the kill).
        ready: awaited before signalling; ``False`` means the target must not be signalled yet
            (:class:`TargetNotReady`; the reconciler keeps the change pending and retries).
        require_handler: refuse (TargetNotReady) when ``/proc/PID/status`` shows the process neither
            catches nor ignores nor blocks ``signal`` and the signal's default action would end it.
            This protects C/Python/shell targets during start-up; it cannot protect Go programs
            (Prometheus): the Go runtime catches every signal from its first instruction and
            exits on SIGHUP until ``signal.Notify`` is called, so pass a ``ready`` gate such as
            :func:`config_reloader.reload.verify.runtimeinfo_ready` for them.

    Raises:
        ValueError: invalid signal number or non-positive timeout.
    """

    method = "signal"

    def __init__(
        self,
        *,
        signal: int,
        target: PidSource,
        timeout: float,
        ready: Callable[[], Awaitable[bool]] | None = None,
        require_handler: bool = True,
    ) -> None:
        self.signal = _signal.Signals(signal)  # ValueError on an unknown number
        _require_positive_seconds("timeout", timeout)
        self.source = target
        self.timeout = timeout
        self.ready = ready
        self.require_handler = require_handler
        self.target = str(target) if isinstance(target, ProcessName | PidFile) else "child process"
        self.last_pid: int | None = None

    def __repr__(self) -> str:
        return f"SignalReload({self.signal.name}, {self.target!r}, timeout={self.timeout})"

    async def resolve_pid(self) -> int:
        """The pid to signal now (the first of :meth:`resolve_pids`)."""
        return (await self.resolve_pids())[0]

    async def resolve_pids(self) -> list[int]:
        """The pids to signal now: one, or every match with ``ProcessName(match="all")``.

        Raises:
            TargetNotFound: no matching process; several with ``match="single"``; pid file
                missing, unreadable, not a number or naming a process that no longer exists; the
                callable returned ``None``; or a pid we never signal (<= 1, or our own).
        """
        src = self.source
        if isinstance(src, ProcessName):
            pids, scanned = await asyncio.to_thread(find_processes, src.name, src.proc_root)
            if not pids:
                raise TargetNotFound(
                    f"no process named {src.name!r} found: searched /proc/*/exe basenames and "
                    f"/proc/*/comm (first {COMM_LEN} characters) of {scanned} processes; in Kubernetes "
                    "signal mode needs shareProcessNamespace: true",
                    target=self.target,
                )
            if src.match == "single" and len(pids) > 1:
                raise TargetNotFound(
                    f"{len(pids)} processes named {src.name!r} (pids {', '.join(map(str, pids[:10]))}) and "
                    "--process-match=single: not guessing which one; use --process-match=oldest or all, "
                    "or --pid-file",
                    target=self.target,
                )
            chosen = pids if src.match == "all" else pids[:1]
            for pid in chosen:
                if pid <= 1:
                    raise TargetNotFound(
                        f"refusing to signal pid {pid} (from {self.target})", target=self.target
                    )
            if chosen[0] != self.last_pid or len(chosen) > 1:
                log.info(
                    "signal target found",
                    extra={
                        "process_name": src.name,
                        "pid": ",".join(map(str, chosen)),
                        "candidates": len(pids),
                    },
                )
            self.last_pid = chosen[0]
            return chosen
        if isinstance(src, PidFile):
            pid = self._read_pid_file(src.path)
        else:
            found = src()
            if found is None:
                raise TargetNotFound("the child process is not running", target=self.target)
            pid = found
        if pid <= 1 or pid == os.getpid():
            raise TargetNotFound(f"refusing to signal pid {pid} (from {self.target})", target=self.target)
        self.last_pid = pid
        return [pid]

    def _read_pid_file(self, path: str) -> int:
        try:
            # O_NONBLOCK: this runs on the event loop's thread; the open of a FIFO would wait for a
            # writer there, and not even SIGTERM would end the process.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
            with open(fd, "rb") as f:
                mode = os.fstat(fd).st_mode
                if not stat.S_ISREG(mode):
                    raise TargetNotFound(
                        f"pid file {path} is {file_kind(mode)}, not a regular file", target=self.target
                    )
                text = f.read(64).decode("ascii", errors="replace")
        except FileNotFoundError as exc:
            raise TargetNotFound(f"pid file {path} does not exist", target=self.target) from exc
        except OSError as exc:
            raise TargetNotFound(
                f"pid file {path} cannot be read: {exc.strerror}", target=self.target
            ) from exc
        first = text.strip().split("\n", 1)[0].strip()
        if not first.isdigit():
            raise TargetNotFound(
                f"pid file {path} does not hold a pid (starts with {first[:20]!r})", target=self.target
            )
        pid = int(first)
        if pid > 1:
            try:
                os.kill(pid, 0)
            except ProcessLookupError as exc:
                raise TargetNotFound(
                    f"pid file {path} is stale: process {pid} does not exist", target=self.target
                ) from exc
            except PermissionError:
                pass  # exists; kill() below reports the permission problem
            state = _start_time("/proc", pid)
            if state is not None and state[0] in ("Z", "X"):
                raise TargetNotFound(
                    f"pid file {path} is stale: process {pid} has exited", target=self.target
                )
        return pid

    async def trigger(self) -> None:
        """Find the pid, pass the readiness gate, send the signal.

        Raises:
            TargetNotFound: see :meth:`resolve_pid`; also when the process exits before the kill.
            TargetNotReady: ``ready()`` returned ``False``, or no handler is installed (``require_handler``).
            ReloadTimeout: the attempt took longer than ``timeout`` seconds.
            ReloadError: the kill failed (e.g. EPERM: the process belongs to another user).
        """
        try:
            async with asyncio.timeout(self.timeout):
                pids = await self.resolve_pids()
                if self.ready is not None and not await self._ready():
                    raise TargetNotReady(
                        f"{self.target} (pid {pids[0]}) is not ready for {self.signal.name} yet",
                        target=self.target,
                    )
        except TimeoutError as exc:
            raise ReloadTimeout(
                f"{self.target}: not ready for {self.signal.name} within {self.timeout:g}s",
                target=self.target,
            ) from exc
        if self.require_handler and self._default_kills():
            for pid in pids:
                if signal_disposition(pid, self.signal) == "default":
                    raise TargetNotReady(
                        f"{self.target} (pid {pid}) has no {self.signal.name} handler installed yet "
                        f"(/proc/{pid}/status SigCgt); the default action would terminate it",
                        target=self.target,
                    )
        for pid in pids:
            try:
                os.kill(pid, self.signal)
            except ProcessLookupError as exc:
                raise TargetNotFound(
                    f"{self.target}: process {pid} exited before the signal", target=self.target
                ) from exc
            except OSError as exc:
                raise ReloadError(
                    f"{self.target}: cannot send {self.signal.name} to pid {pid}: {exc.strerror}",
                    target=self.target,
                ) from exc
            log.debug("signal sent", extra={"pid": pid, "signal": self.signal.name})

    async def _ready(self) -> bool:
        assert self.ready is not None
        try:
            return await self.ready()
        except Exception as exc:  # a broken gate must not let the signal through
            raise TargetNotReady(
                f"{self.target}: readiness check failed: {type(exc).__name__}: {exc}", target=self.target
            ) from exc

    def _default_kills(self) -> bool:
        # signal(7): these default to "Ign" or "Cont"/"Stop"; everything else terminates or dumps core.
        harmless = {
            _signal.SIGCHLD,
            _signal.SIGCONT,
            _signal.SIGURG,
            _signal.SIGWINCH,
            _signal.SIGSTOP,
            _signal.SIGTSTP,
            _signal.SIGTTIN,
            _signal.SIGTTOU,
        }
        return self.signal not in harmless
