"""The supervisor of ``config-reloader run``: one child at a time, signals, readiness, restarts.

:class:`Supervisor` starts the child in a session and process group of its own with the pin set
as CPU affinity, forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGTSTP and SIGCONT,
holds back a SIGHUP (and the reload signal) until the child is ready, reaps every zombie (as PID 1
in a container, or as child subreaper otherwise), stops the child with an escalating ladder (stop
signal, ``stop_timeout``, SIGKILL, as watchfiles' ``run_process`` does) and restarts it by policy,
at most ``max_restarts_per_minute`` times in any 60 s window.

Process group. The child runs in its own session (dumb-init's default "setsid mode"; tini puts the
child in its own group and, with ``-g``, signals that group instead of the child alone). So a
terminal's Ctrl-C reaches only ``run``'s group, and ``run`` forwards it once (before, the child was in
``run``'s group and got it twice: from the terminal and forwarded). Which signals go where:

* to the child's whole group (``killpg``): the stop signals (SIGTERM, SIGINT, SIGQUIT, the stop
  ladder's ``stop_signal`` and SIGKILL) and job control (SIGTSTP, sent on as SIGSTOP, then
  ``run`` stops itself; SIGCONT), i.e. what a terminal sends to a foreground job, so the child's
  own children (a ``sh -c`` pipeline, workers that do not handle signals themselves) stop with it
  and nothing is left running after a SIGKILL;
* to the child alone (``kill``): SIGHUP, SIGUSR1, SIGUSR2 and the reload signal. These are requests
  to the program (reload, reopen logs), whose main process relays them to its workers itself
  (nginx, gunicorn), while helper processes or a shell wrapper would simply die of them (their
  default action is to terminate), and the never-signal-before-ready gate only knows the child's
  readiness. dumb-init sends every signal to the group; Prometheus is a single process, so for it
  both choices are the same.

An incarnation ends when its whole group is gone: members still running after the child exited get
the stop signal (unless one was already sent) and SIGKILL once ``stop_timeout`` has passed since
the first stop signal; only then is the child reaped (its zombie keeps the group id from being
reused meanwhile) and restarted or ``run`` exits. Processes that left the group (``setsid``,
daemons) are not followed, as with dumb-init and tini.

Sources: ``signal(7)`` (PID 1 of a PID namespace only receives signals it handles),
``credentials(7)`` (sessions, process groups, job control), prometheus/prometheus#14917 (SIGHUP
during start-up kills the target; research B14), docker's stop semantics (signal, grace period,
SIGKILL), the dumb-init and tini READMEs (setsid mode; ``-g``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from config_reloader.errors import SuperviseError
from config_reloader.supervise.process import (
    Child,
    exit_status_from_wait,
    list_children,
    set_child_subreaper,
)

if TYPE_CHECKING:
    from config_reloader.metrics import SupervisorMetrics
    from config_reloader.promtext import Registry as CollectorRegistry

__all__ = [
    "FORWARDED_SIGNALS",
    "GROUP_SIGNALS",
    "SHUTDOWN_SIGNALS",
    "ChildMetrics",
    "RestartPolicy",
    "SuperviseOptions",
    "Supervisor",
    "format_cpus",
]

log = logging.getLogger(__name__)

RestartPolicy = Literal["no", "on-failure", "always"]

#: Signals ``run`` forwards to its child (issue 4), or to its process group (:data:`GROUP_SIGNALS`).
FORWARDED_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGTSTP,
    signal.SIGCONT,
)
#: Forwarded signals that also mean "shut down": the child is not restarted after it exits, and its
#: process group is killed with SIGKILL if still there ``stop_timeout`` seconds later (docker stop).
SHUTDOWN_SIGNALS: frozenset[int] = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
#: Forwarded signals that go to the child's whole process group, as a terminal sends them to a
#: foreground job; the others go to the child alone (module docstring says why).
GROUP_SIGNALS: frozenset[int] = SHUTDOWN_SIGNALS | {signal.SIGTSTP, signal.SIGCONT}

_READY_POLL_INTERVAL = 0.05  # seconds between readiness probes
_ORPHAN_GRACE = 1.0  # seconds a foreign zombie may wait for its own waiter (asyncio's child watcher)
_KILL_WAIT = 5.0  # seconds to wait for the child to disappear after SIGKILL
_GROUP_POLL = 0.05  # seconds between scans of /proc for what is left of the child's process group


def format_cpus(cpus: Iterable[int]) -> str:
    """cpulist syntax ("0-3,8", as in /proc/PID/status Cpus_allowed_list), via the cpu engine."""
    from config_reloader.cpu import format_cpulist

    return str(format_cpulist(cpus))


class ChildMetrics:
    """The supervisor's metrics: :class:`config_reloader.metrics.SupervisorMetrics` (running,
    restarts, last exit status, pin set) plus two of ours on the same registry:
    ``reloader_child_ready`` (gauge) and ``reloader_child_orphans_reaped_total`` (counter).

    Args:
        registry: where to register; None = a fresh private registry.
    """

    def __init__(self, registry: CollectorRegistry | None) -> None:
        from config_reloader.metrics import SupervisorMetrics
        from config_reloader.promtext import Counter, Gauge

        self.base: SupervisorMetrics = SupervisorMetrics(registry)
        reg = self.base.registry
        self.ready = Gauge(
            "reloader_child_ready", "1 once the running child passed its readiness check.", registry=reg
        )
        self.orphans_reaped = Counter(
            "reloader_child_orphans_reaped",
            "Zombie processes re-parented to run and reaped by it.",
            registry=reg,
        )

    def set_pin(self, cpus: frozenset[int] | None) -> None:
        """Record the pin set (None = not pinned: no sample)."""
        self.base.set_pin_cpus(format_cpus(cpus) if cpus else None)


@dataclass(frozen=True, kw_only=True, slots=True)
class SuperviseOptions:
    """How ``run`` supervises its child. Durations are float seconds; ``None`` means "disabled"."""

    argv: tuple[str, ...]
    """The command and its arguments (after ``--``)."""
    cpus: frozenset[int] | None = None
    """CPU affinity for the child (the pin set); None = inherit ours (``--no-pin-cpus``)."""
    stop_signal: int = signal.SIGTERM
    """First rung of the stop ladder when ``run`` itself stops the child (``--stop-signal``)."""
    stop_timeout: float = 10.0
    """Seconds between the stop signal (or a forwarded SIGTERM/SIGINT/SIGQUIT) and SIGKILL of the
    child's process group."""
    restart: RestartPolicy = "no"
    """Restart the child after it exits: never, on non-zero status, or always (``--restart``)."""
    restart_delay: float = 1.0
    """Seconds between an exit and the restart (``--restart-delay``)."""
    max_restarts_per_minute: int = 5
    """Give up (exit with the last status) rather than restart more often in any 60 s window."""
    ready_url: str | None = None
    """The child is ready once a GET on this URL answers 200 (``--ready-url``)."""
    ready_delay: float | None = None
    """Or: the child is ready this many seconds after it started (``--ready-delay``)."""
    reload_signal: int = signal.SIGHUP
    """Held back like SIGHUP until the child is ready (``--reload-signal``)."""
    env: Mapping[str, str] | None = None
    """Environment of the child; None = ours."""
    reap_orphans: bool = True
    """Reap zombies re-parented to us (PID 1, or subreaper). Becomes subreaper when not PID 1."""
    forward_signals: tuple[int, ...] = field(default=tuple(FORWARDED_SIGNALS))
    """Signals to forward: those in :data:`GROUP_SIGNALS` to the child's process group, the others
    to the child alone; SIGTSTP also stops ``run`` itself afterwards."""

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("argv: a command is required after --")
        for name in ("stop_timeout", "restart_delay"):
            v = getattr(self, name)
            if math.isnan(v) or v < 0:
                raise ValueError(f"{name}: must be a non-negative number of seconds, got {v!r}")
        if self.ready_delay is not None and (math.isnan(self.ready_delay) or self.ready_delay < 0):
            raise ValueError(f"ready_delay: must be a non-negative number of seconds, got {self.ready_delay}")
        if self.restart not in ("no", "on-failure", "always"):
            raise ValueError(f"restart: must be no, on-failure or always, got {self.restart!r}")
        if self.max_restarts_per_minute < 0:
            raise ValueError("max_restarts_per_minute: must be >= 0")
        if self.cpus is not None and not self.cpus:
            raise ValueError("cpus: the pin set is empty (the condition should have failed)")


class Supervisor:
    """Run one child at a time under a restart policy; see the module docstring.

    Use :meth:`run` once; other tasks may call :meth:`wait_ready`, :meth:`restart_child`,
    :meth:`stop` and read :attr:`pid` / :attr:`ready` meanwhile (same event loop).

    Args:
        options: what to run and how.
        metrics: child metrics to update, or None.
        readiness_probe: override of the readiness check (tests); default from ``options``.
    """

    def __init__(
        self,
        options: SuperviseOptions,
        *,
        metrics: ChildMetrics | None = None,
        readiness_probe: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.options = options
        self.metrics = metrics
        self._probe = readiness_probe
        self._child: Child | None = None
        self._ready_event = asyncio.Event()
        self._restart_requested = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._restart_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self._held: set[int] = set()
        self._restart_times: collections.deque[float] = collections.deque()
        self._zombies_seen: dict[int, float] = {}
        self._reap_handle: asyncio.TimerHandle | None = None
        self._kill_handle: asyncio.TimerHandle | None = None
        self._group_deadline: float | None = None  # loop time: SIGKILL the child's group after it
        self._subtree: int | None = None  # where the child's group can be found (process_group_members)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finished = False
        self.restarts = 0
        self.last_exit_status: int | None = None
        self.started = asyncio.Event()
        """Set once the first child has been started."""

    # -- public state ------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """PID of the running child, or None (PidSource for SignalReload)."""
        c = self._child
        return c.pid if c is not None and c.alive else None

    @property
    def ready(self) -> bool:
        """True while a child runs and has passed its readiness check."""
        return self._ready_event.is_set() and self.pid is not None

    async def is_ready(self) -> bool:
        """Async form of :attr:`ready` (the ``ready`` gate of SignalReload)."""
        return self.ready

    async def wait_ready(self) -> None:
        """Wait until a child is running and ready (cancellable; no timeout of its own)."""
        while True:
            await self._ready_event.wait()
            if self.ready:
                return
            await asyncio.sleep(_READY_POLL_INTERVAL)  # set but child gone: wait for the next one

    async def restart_child(self) -> None:
        """Graceful restart: stop ladder on the running child, start a new one, wait until ready.

        Does not count against ``max_restarts_per_minute``.

        Raises:
            SuperviseError: the supervisor stopped before a new child became ready.
        """
        if self._finished:
            raise SuperviseError(
                "restart requested but the supervisor has stopped (the child exited for good)"
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._restart_waiters.append(fut)
        self._restart_requested.set()
        await fut

    def stop(self) -> None:
        """Ask :meth:`run` to stop the child with the stop ladder and return its status."""
        self._stop_requested.set()

    # -- main loop ---------------------------------------------------------------------------------
    async def run(self) -> int:
        """Supervise until the child exits for good; return the exit status for ``run``.

        Installs signal handlers (forwarded signals and SIGCHLD) for its duration and removes them
        afterwards. Raises :class:`SuperviseError` only for misuse (called twice).
        """
        loop = asyncio.get_running_loop()
        if os.getpid() == 1 or (self.options.reap_orphans and set_child_subreaper()):
            # every process of the child's group stays below us: orphans re-parent to us
            self._subtree = os.getpid()
        installed: list[int] = []
        try:
            for sig in self.options.forward_signals:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
            installed.append(signal.SIGCHLD)
            return await self._loop()
        finally:
            self._finished = True
            for t in list(self._tasks):
                t.cancel()
            child = self._child
            if child is not None and child.alive:  # cancelled: do not leave an orphan behind
                # SIGCHLD handling must still be installed here: it resolves child.exited
                await asyncio.shield(self._stop_ladder(child, self.options.stop_signal, reason="cancelled"))
            if child is not None and not child.reaped:
                try:
                    await asyncio.shield(self._end_group(child))
                finally:
                    child.reap()
            for sig in installed:
                loop.remove_signal_handler(sig)
            for h in (self._reap_handle, self._kill_handle):
                if h is not None:
                    h.cancel()
            self._fail_restart_waiters("supervisor stopped")
            if self.options.reap_orphans:
                self._reap_orphans(force=True)

    async def _loop(self) -> int:
        status = 0
        while True:
            try:
                child = self._spawn()
            except SuperviseError as exc:
                log.error("cannot start child", extra={"err": str(exc), "argv": list(self.options.argv)})
                self._fail_restart_waiters(str(exc))
                return 127 if isinstance(exc.__cause__, FileNotFoundError) else 126
            outcome = await self._wait_child_event(child)
            if outcome == "restart":
                log.info("restarting child for reload", extra={"pid": child.pid})
                status = await self._stop_ladder(child, self.options.stop_signal, reason="reload")
                await self._end_group(child)
                if self._shutting_down or self._stop_requested.is_set():
                    self._fail_restart_waiters("shutting down")
                    return status
                self._count_restart(policy=False)
                continue
            if outcome == "stop":
                status = await self._stop_ladder(child, self.options.stop_signal, reason="stop")
                await self._end_group(child)
                return status
            status = await child.exited
            await self._end_group(child)
            if self._shutting_down:
                log.info("child exited after shutdown signal", extra={"pid": child.pid, "status": status})
                return status
            if not self._should_restart(status):
                log.info("child exited", extra={"pid": child.pid, "status": status})
                self._fail_restart_waiters("child exited")
                return status
            if not self._restart_allowed():
                log.error(
                    "child restarting too often: giving up",
                    extra={
                        "pid": child.pid,
                        "status": status,
                        "max_restarts_per_minute": self.options.max_restarts_per_minute,
                    },
                )
                self._fail_restart_waiters("giving up")
                return status
            log.warning(
                "child exited: restarting",
                extra={
                    "pid": child.pid,
                    "status": status,
                    "restart": self.options.restart,
                    "delay_seconds": self.options.restart_delay,
                },
            )
            if await self._interruptible_sleep(self.options.restart_delay):
                return status
            self._count_restart(policy=True)

    # -- helpers of the loop -----------------------------------------------------------------------
    def _spawn(self) -> Child:
        self._ready_event.clear()
        self._held.clear()
        try:
            child = Child(self.options.argv, cpus=self.options.cpus, env=self.options.env)
        except FileNotFoundError as exc:
            raise SuperviseError(f"command not found: {self.options.argv[0]!r}") from exc
        except PermissionError as exc:
            raise SuperviseError(f"command not executable: {self.options.argv[0]!r}: {exc}") from exc
        except OSError as exc:
            raise SuperviseError(f"cannot start {self.options.argv[0]!r}: {exc}") from exc
        self._child = child
        extra: dict[str, Any] = {"pid": child.pid, "argv": list(self.options.argv)}
        if self.options.cpus is not None:
            extra["cpus"] = format_cpus(self.options.cpus)
        log.info("child started", extra=extra)
        if self.metrics is not None:
            self.metrics.base.child_running.set(1)
            self.metrics.ready.set(0)
        self.started.set()
        self._on_sigchld()  # it may have exited before we looked
        self._spawn_task(self._become_ready(child))
        return child

    async def _wait_child_event(self, child: Child) -> str:
        waits: dict[str, asyncio.Future[Any]] = {
            "exit": asyncio.ensure_future(asyncio.shield(child.exited)),
            "restart": asyncio.ensure_future(self._restart_requested.wait()),
            "stop": asyncio.ensure_future(self._stop_requested.wait()),
        }
        try:
            done, _ = await asyncio.wait(waits.values(), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits.values():
                w.cancel()
        if waits["exit"] in done or not child.alive:
            return "exit"
        if waits["stop"] in done:
            return "stop"
        self._restart_requested.clear()
        return "restart"

    def _should_restart(self, status: int) -> bool:
        if self._stop_requested.is_set():
            return False
        if self._restart_requested.is_set():  # a reload wanted a restart and the child is gone anyway
            self._restart_requested.clear()
            return True
        if self.options.restart == "always":
            return True
        return self.options.restart == "on-failure" and status != 0

    def _restart_allowed(self) -> bool:
        now = time.monotonic()
        while self._restart_times and now - self._restart_times[0] >= 60.0:
            self._restart_times.popleft()
        return len(self._restart_times) < self.options.max_restarts_per_minute

    def _count_restart(self, *, policy: bool) -> None:
        if policy:
            self._restart_times.append(time.monotonic())
        self.restarts += 1
        if self.metrics is not None:
            self.metrics.base.child_restarts.inc()

    async def _interruptible_sleep(self, seconds: float) -> bool:
        """Sleep; True if a shutdown signal or stop() interrupted it."""
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait_for(asyncio.shield(stop), timeout=seconds)
        except TimeoutError:
            return self._shutting_down
        finally:
            stop.cancel()
        return True

    def _start_group_deadline(self) -> None:
        """The first stop signal to the group starts its ``stop_timeout``; later ones do not."""
        if self._group_deadline is None:
            self._group_deadline = asyncio.get_running_loop().time() + self.options.stop_timeout

    async def _stop_ladder(self, child: Child, sig: int, *, reason: str) -> int:
        """Stop signal to the child's group, wait ``stop_timeout`` for the child, SIGKILL the
        group, wait; return the child's exit status (the rest of the group: :meth:`_end_group`)."""
        if child.alive:
            log.info(
                "stopping child",
                extra={
                    "pid": child.pid,
                    "signal": signal.Signals(sig).name,
                    "reason": reason,
                    "stop_timeout_seconds": self.options.stop_timeout,
                },
            )
            child.signal_group(sig)
            self._start_group_deadline()
            try:
                return await self._wait_exit(child, self.options.stop_timeout)
            except TimeoutError:
                log.warning(
                    "child did not stop in time: sending SIGKILL to its process group",
                    extra={"pid": child.pid, "stop_timeout_seconds": self.options.stop_timeout},
                )
            child.signal_group(signal.SIGKILL)
            try:
                return await self._wait_exit(child, _KILL_WAIT)
            except TimeoutError:
                log.error("child survived SIGKILL (uninterruptible sleep?)", extra={"pid": child.pid})
                return 128 + signal.SIGKILL
        return await child.exited

    async def _end_group(self, child: Child) -> None:
        """Make sure nothing of the child's process group outlives it, then reap the child.

        Called once the child has exited. Members still running get ``stop_signal`` unless a stop
        signal already went to the group, and SIGKILL when ``stop_timeout`` has passed since the
        first one. The child stays a zombie until then, so its pid (the group id) cannot be reused
        and every ``killpg`` reaches only its group. Cancelled, it leaves the child unreaped, so
        :meth:`run` can finish the job.
        """
        rest = self._group_running(child)
        if rest:
            if self._group_deadline is None:
                log.info(
                    "child exited: stopping the rest of its process group",
                    extra={
                        "pid": child.pid,
                        "pids": ",".join(map(str, rest)),
                        "signal": signal.Signals(self.options.stop_signal).name,
                        "stop_timeout_seconds": self.options.stop_timeout,
                    },
                )
                child.signal_group(self.options.stop_signal)
                self._start_group_deadline()
            assert self._group_deadline is not None
            rest = await self._wait_group_gone(child, self._group_deadline)
        if rest:
            log.warning(
                "processes of the child's group still running after the stop timeout: sending SIGKILL",
                extra={
                    "pid": child.pid,
                    "pids": ",".join(map(str, rest)),
                    "stop_timeout_seconds": self.options.stop_timeout,
                },
            )
            child.signal_group(signal.SIGKILL)
            rest = await self._wait_group_gone(child, asyncio.get_running_loop().time() + _KILL_WAIT)
            if rest:
                log.error(
                    "processes of the child's group survived SIGKILL (uninterruptible sleep?)",
                    extra={"pid": child.pid, "pids": ",".join(map(str, rest))},
                )
        child.reap()
        self._group_deadline = None

    def _group_running(self, child: Child) -> list[int]:
        """The running members of the child's group. An empty answer is checked once more: a
        process re-parented while a look was under way (its parent exiting) can be missed once."""
        return child.group_running(within=self._subtree) or child.group_running(within=self._subtree)

    async def _wait_group_gone(self, child: Child, deadline: float) -> list[int]:
        """Poll until no member of the child's group runs or ``deadline`` (loop time) passes;
        return the members still running."""
        loop = asyncio.get_running_loop()
        while True:
            rest = self._group_running(child)
            if not rest or loop.time() >= deadline:
                return rest
            await asyncio.sleep(min(_GROUP_POLL, max(0.0, deadline - loop.time())))

    async def _wait_exit(self, child: Child, timeout: float) -> int:  # noqa: ASYNC109
        """Wait for the child's exit status; also polls waitpid in case a SIGCHLD was missed.

        Raises:
            TimeoutError: still running after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(child.exited), min(remaining, 0.5))
            self._on_sigchld()

    async def _become_ready(self, child: Child) -> None:
        url_probe = _UrlProbe(self.options.ready_url) if self.options.ready_url else None
        probe = self._probe or url_probe
        try:
            if probe is not None:
                while child.alive and not await probe():  # noqa: ASYNC110 - polling a URL
                    await asyncio.sleep(_READY_POLL_INTERVAL)
            elif self.options.ready_delay:
                await asyncio.sleep(self.options.ready_delay)
        finally:
            if url_probe is not None:
                await url_probe.aclose()
        if not child.alive or self._child is not child:
            return
        self._ready_event.set()
        if self.metrics is not None:
            self.metrics.ready.set(1)
        log.info(
            "child ready",
            extra={"pid": child.pid, "after_seconds": round(time.monotonic() - child.started, 3)},
        )
        for sig in sorted(self._held):
            log.info(
                "delivering held-back signal", extra={"pid": child.pid, "signal": signal.Signals(sig).name}
            )
            child.send(sig)
        self._held.clear()
        waiters, self._restart_waiters = self._restart_waiters, []
        if not self._restart_requested.is_set():
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        else:  # another restart was requested meanwhile: they wait for that one
            self._restart_waiters.extend(waiters)

    def _fail_restart_waiters(self, why: str) -> None:
        waiters, self._restart_waiters = self._restart_waiters, []
        for w in waiters:
            if not w.done():
                w.set_exception(SuperviseError(f"restart did not complete: {why}"))

    def _spawn_task(self, coro: Awaitable[Any]) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # -- signals -----------------------------------------------------------------------------------
    def _on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        child = self._child
        if sig in SHUTDOWN_SIGNALS:
            self._shutting_down = True
            self._stop_requested_by_signal()
        if sig in GROUP_SIGNALS:
            # A group alone in its session is orphaned (POSIX): the kernel discards a SIGTSTP whose
            # action is the default stop there, so Ctrl-Z has to stop the child's group with SIGSTOP.
            out = signal.SIGSTOP if sig == signal.SIGTSTP else sig
            # also after the child itself exited, while the rest of its group is being stopped
            if child is not None and not child.reaped:
                log.info(
                    "forwarding signal to the child's process group",
                    extra={"signal": name, "sent": signal.Signals(out).name, "pid": child.pid},
                )
                child.signal_group(out)
                if sig in SHUTDOWN_SIGNALS:
                    self._start_group_deadline()
                    if child.alive and self._kill_handle is None:
                        self._kill_handle = asyncio.get_running_loop().call_later(
                            self.options.stop_timeout, self._escalate_kill, child
                        )
            else:
                log.info("signal received while no child runs", extra={"signal": name})
            if sig == signal.SIGTSTP:
                # Ctrl-Z: the terminal reaches only our group; having stopped the child's, stop
                # ourselves too, as the terminal would have. The shell's fg/bg then sends SIGCONT
                # to our group, which we forward to the child's.
                os.kill(os.getpid(), signal.SIGSTOP)
            return
        if child is None or not child.alive:
            log.info("signal received while no child runs", extra={"signal": name})
            return
        if sig in (signal.SIGHUP, self.options.reload_signal) and not self._ready_event.is_set():
            log.info("holding back signal until the child is ready", extra={"signal": name, "pid": child.pid})
            self._held.add(sig)
            return
        log.info("forwarding signal", extra={"signal": name, "pid": child.pid})
        child.send(sig)

    def _stop_requested_by_signal(self) -> None:
        # interrupts a restart delay; a running child is left to exit on the forwarded signal
        if self._child is None or not self._child.alive:
            self._stop_requested.set()

    def _escalate_kill(self, child: Child) -> None:
        self._kill_handle = None
        if child.alive:
            log.warning(
                "child still running after shutdown signal: sending SIGKILL to its process group",
                extra={"pid": child.pid, "stop_timeout_seconds": self.options.stop_timeout},
            )
            child.signal_group(signal.SIGKILL)

    def _on_sigchld(self) -> None:
        child = self._child
        if child is not None and child.alive:
            try:
                # WNOWAIT: the zombie is reaped only after the rest of its group (_end_group)
                exited = child.poll_exit()
            except ChildProcessError:
                log.warning("child was reaped by someone else; exit status unknown", extra={"pid": child.pid})
                child.mark_exited(0)
                child.reaped = True  # its pid may already be someone else's: never killpg it
                exited = True
            if exited:
                self.last_exit_status = child.exit_status
                if self._kill_handle is not None:
                    self._kill_handle.cancel()
                    self._kill_handle = None
                self._ready_event.clear()
                if self.metrics is not None:
                    self.metrics.base.child_exited(child.exitcode or 0)
                    self.metrics.ready.set(0)
        if self.options.reap_orphans:
            self._reap_orphans()

    def _reap_orphans(self, *, force: bool = False) -> None:
        """Reap zombie children other than the main child.

        A zombie that is not ours may belong to an asyncio subprocess of this process (validate
        hook), whose watcher reaps it itself: such zombies get ``_ORPHAN_GRACE`` seconds first.
        """
        now = time.monotonic()
        main = self._child.pid if self._child is not None and not self._child.reaped else None
        zombies = {p for p, state in list_children().items() if state == "Z" and p != main}
        for p in list(self._zombies_seen):
            if p not in zombies:
                del self._zombies_seen[p]
        pending = False
        for p in zombies:
            first = self._zombies_seen.setdefault(p, now)
            if not force and now - first < _ORPHAN_GRACE:
                pending = True
                continue
            try:
                rpid, wstatus = os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                rpid = 0
            self._zombies_seen.pop(p, None)
            if rpid == p:
                log.debug("reaped orphan", extra={"pid": p, "status": exit_status_from_wait(wstatus)})
                if self.metrics is not None:
                    self.metrics.orphans_reaped.inc()
        if pending and not force and self._reap_handle is None:

            def _again() -> None:
                self._reap_handle = None
                self._reap_orphans()

            with contextlib.suppress(RuntimeError):  # loop closing
                self._reap_handle = asyncio.get_running_loop().call_later(_ORPHAN_GRACE, _again)


class _UrlProbe:
    """GET ``url``; ready when it answers 200. One aiohttp session for all probes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._session: Any = None

    async def __call__(self) -> bool:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0))
        try:
            async with self._session.get(self.url) as resp:
                return bool(resp.status == 200)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
