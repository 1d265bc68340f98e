"""The supervisor of ``config-reloader run``: one child at a time, under a restart policy.

:class:`Supervisor` starts the child in a session and process group of its own with the pin set
as CPU affinity (:mod:`~config_reloader.supervise.process`), waits for it to be ready
(:mod:`~config_reloader.supervise.readiness`), forwards signals
(:mod:`~config_reloader.supervise.signals`), stops it with an escalating ladder
(:mod:`~config_reloader.supervise.stopping`), reaps every zombie
(:mod:`~config_reloader.supervise.reaping`) and restarts it by policy, at most
``max_restarts_per_minute`` times in any 60 s window.

Process group. The child runs in its own session (dumb-init's default "setsid mode"; tini puts the
child in its own group and, with ``-g``, signals that group instead of the child alone). So a
terminal's Ctrl-C reaches only ``run``'s group, and ``run`` forwards it once (before, the child was
in ``run``'s group and got it twice: from the terminal and forwarded).

Sources: ``signal(7)`` (PID 1 of a PID namespace only receives signals it handles),
``credentials(7)`` (sessions, process groups, job control), docker's stop semantics (signal, grace
period, SIGKILL), the dumb-init and tini READMEs (setsid mode; ``-g``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from config_reloader.errors import SuperviseError
from config_reloader.sigstate import unblock
from config_reloader.supervise.childmetrics import ChildMetrics, format_cpus
from config_reloader.supervise.options import SuperviseOptions
from config_reloader.supervise.process import Child, set_child_subreaper
from config_reloader.supervise.readiness import READY_POLL_INTERVAL, wait_until_ready
from config_reloader.supervise.reaping import OrphanReaper
from config_reloader.supervise.signals import SignalForwarder
from config_reloader.supervise.stopping import StopLadder

__all__ = ["Supervisor"]

log = logging.getLogger("config_reloader.supervise")


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
        self._restart_times: collections.deque[float] = collections.deque()
        self._stopper = StopLadder(options, poll=self._on_sigchld)
        self._signals = SignalForwarder(options.reload_signal, self._stopper, self._on_shutdown_signal)
        self._reaper = OrphanReaper(self._main_pid, metrics)
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

    def _main_pid(self) -> int | None:
        """The child's pid while it is not reaped (the orphan reaper leaves it alone)."""
        c = self._child
        return c.pid if c is not None and not c.reaped else None

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
            await asyncio.sleep(READY_POLL_INTERVAL)  # set but child gone: wait for the next one

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
            self._stopper.subtree = os.getpid()
        installed: list[int] = []
        try:
            for sig in self.options.forward_signals:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
            installed.append(signal.SIGCHLD)
            unblock(installed)  # an inherited blocked mask would hold them pending forever
            return await self._loop()
        finally:
            self._finished = True
            for t in list(self._tasks):
                t.cancel()
            child = self._child
            if child is not None and child.alive:  # cancelled: do not leave an orphan behind
                # SIGCHLD handling must still be installed here: it resolves child.exited
                await asyncio.shield(self._stopper.stop(child, self.options.stop_signal, reason="cancelled"))
            if child is not None and not child.reaped:
                try:
                    await asyncio.shield(self._stopper.end_group(child))
                finally:
                    child.reap()
            for sig in installed:
                loop.remove_signal_handler(sig)
            self._reaper.close()
            self._stopper.cancel_kill()
            self._fail_restart_waiters("supervisor stopped")
            if self.options.reap_orphans:
                self._reaper.reap(force=True)

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
                status = await self._stopper.stop(child, self.options.stop_signal, reason="reload")
                await self._stopper.end_group(child)
                if self._shutting_down or self._stop_requested.is_set():
                    self._fail_restart_waiters("shutting down")
                    return status
                self._count_restart(policy=False)
                continue
            if outcome == "stop":
                status = await self._stopper.stop(child, self.options.stop_signal, reason="stop")
                await self._stopper.end_group(child)
                return status
            status = await child.exited
            await self._stopper.end_group(child)
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
        self._signals.reset()
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

    async def _become_ready(self, child: Child) -> None:
        await wait_until_ready(child, self.options, self._probe)
        if not child.alive or self._child is not child:
            return
        self._ready_event.set()
        if self.metrics is not None:
            self.metrics.ready.set(1)
        log.info(
            "child ready",
            extra={"pid": child.pid, "after_seconds": round(time.monotonic() - child.started, 3)},
        )
        self._signals.deliver_held(child)
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
        self._signals.forward(sig, self._child, ready=self._ready_event.is_set())

    def _on_shutdown_signal(self) -> None:
        self._shutting_down = True
        self._stop_requested_by_signal()

    def _stop_requested_by_signal(self) -> None:
        # interrupts a restart delay; a running child is left to exit on the forwarded signal
        if self._child is None or not self._child.alive:
            self._stop_requested.set()

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
                self._stopper.cancel_kill()
                self._ready_event.clear()
                if self.metrics is not None:
                    self.metrics.base.child_exited(child.exitcode or 0)
                    self.metrics.ready.set(0)
        if self.options.reap_orphans:
            self._reaper.reap()
