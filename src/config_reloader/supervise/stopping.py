"""Stopping the child: the escalating ladder and the end of its process group.

The ladder: the stop signal to the child's process group, ``stop_timeout`` for the child to exit,
then SIGKILL to the group (docker's stop semantics). An incarnation ends when its whole group is
gone: members still running after the child exited get the stop signal (unless one was already
sent) and SIGKILL once ``stop_timeout`` has passed since the first stop signal; only then is the
child reaped (its zombie keeps the group id from being reused meanwhile). Processes that left the
group (``setsid``, daemons) are not followed, as with dumb-init and tini.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config_reloader.supervise.options import SuperviseOptions
    from config_reloader.supervise.process import Child

__all__ = ["StopLadder"]

log = logging.getLogger("config_reloader.supervise")

KILL_WAIT = 5.0
"""Seconds to wait for the child to disappear after SIGKILL."""
GROUP_POLL = 0.05
"""Seconds between scans of /proc for what is left of the child's process group."""


class StopLadder:
    """Stops a child and its group (see the module docstring).

    Args:
        options: ``stop_timeout`` and ``stop_signal``.
        poll: called when waiting for an exit times out a step (a missed SIGCHLD: poll waitpid).

    Attributes:
        subtree: where the child's group can be found (:meth:`Child.group_running`'s ``within``):
            our pid when orphans re-parent to us, else None.
    """

    def __init__(self, options: SuperviseOptions, poll: Callable[[], None]) -> None:
        self._options = options
        self._poll = poll
        self.subtree: int | None = None
        self._group_deadline: float | None = None  # loop time: SIGKILL the child's group after it
        self._kill_handle: asyncio.TimerHandle | None = None

    def start_group_deadline(self) -> None:
        """The first stop signal to the group starts its ``stop_timeout``; later ones do not."""
        if self._group_deadline is None:
            self._group_deadline = asyncio.get_running_loop().time() + self._options.stop_timeout

    def schedule_kill(self, child: Child) -> None:
        """SIGKILL the child's group ``stop_timeout`` from now if the child still runs then
        (after a forwarded shutdown signal); at most one pending."""
        if self._kill_handle is None:
            self._kill_handle = asyncio.get_running_loop().call_later(
                self._options.stop_timeout, self._escalate_kill, child
            )

    def cancel_kill(self) -> None:
        """The child exited: no SIGKILL needed."""
        if self._kill_handle is not None:
            self._kill_handle.cancel()
            self._kill_handle = None

    def _escalate_kill(self, child: Child) -> None:
        self._kill_handle = None
        if child.alive:
            log.warning(
                "child still running after shutdown signal: sending SIGKILL to its process group",
                extra={"pid": child.pid, "stop_timeout_seconds": self._options.stop_timeout},
            )
            child.signal_group(signal.SIGKILL)

    async def stop(self, child: Child, sig: int, *, reason: str) -> int:
        """Stop signal to the child's group, wait ``stop_timeout`` for the child, SIGKILL the
        group, wait; return the child's exit status (the rest of the group: :meth:`end_group`)."""
        timeout = self._options.stop_timeout
        if child.alive:
            log.info(
                "stopping child",
                extra={
                    "pid": child.pid,
                    "signal": signal.Signals(sig).name,
                    "reason": reason,
                    "stop_timeout_seconds": timeout,
                },
            )
            child.signal_group(sig)
            self.start_group_deadline()
            try:
                return await self.wait_exit(child, timeout)
            except TimeoutError:
                log.warning(
                    "child did not stop in time: sending SIGKILL to its process group",
                    extra={"pid": child.pid, "stop_timeout_seconds": timeout},
                )
            child.signal_group(signal.SIGKILL)
            try:
                return await self.wait_exit(child, KILL_WAIT)
            except TimeoutError:
                log.error("child survived SIGKILL (uninterruptible sleep?)", extra={"pid": child.pid})
                return 128 + signal.SIGKILL
        return await child.exited

    async def end_group(self, child: Child) -> None:
        """Make sure nothing of the child's process group outlives it, then reap the child.

        Called once the child has exited. Members still running get ``stop_signal`` unless a stop
        signal already went to the group, and SIGKILL when ``stop_timeout`` has passed since the
        first one. The child stays a zombie until then, so its pid (the group id) cannot be reused
        and every ``killpg`` reaches only its group. Cancelled, it leaves the child unreaped, so
        the supervisor can finish the job.
        """
        o = self._options
        rest = self._group_running(child)
        if rest:
            if self._group_deadline is None:
                log.info(
                    "child exited: stopping the rest of its process group",
                    extra={
                        "pid": child.pid,
                        "pids": ",".join(map(str, rest)),
                        "signal": signal.Signals(o.stop_signal).name,
                        "stop_timeout_seconds": o.stop_timeout,
                    },
                )
                child.signal_group(o.stop_signal)
                self.start_group_deadline()
            assert self._group_deadline is not None
            rest = await self._wait_group_gone(child, self._group_deadline)
        if rest:
            log.warning(
                "processes of the child's group still running after the stop timeout: sending SIGKILL",
                extra={
                    "pid": child.pid,
                    "pids": ",".join(map(str, rest)),
                    "stop_timeout_seconds": o.stop_timeout,
                },
            )
            child.signal_group(signal.SIGKILL)
            rest = await self._wait_group_gone(child, asyncio.get_running_loop().time() + KILL_WAIT)
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
        return child.group_running(within=self.subtree) or child.group_running(within=self.subtree)

    async def _wait_group_gone(self, child: Child, deadline: float) -> list[int]:
        """Poll until no member of the child's group runs or ``deadline`` (loop time) passes;
        return the members still running."""
        loop = asyncio.get_running_loop()
        while True:
            rest = self._group_running(child)
            if not rest or loop.time() >= deadline:
                return rest
            await asyncio.sleep(min(GROUP_POLL, max(0.0, deadline - loop.time())))

    async def wait_exit(self, child: Child, timeout: float) -> int:  # noqa: ASYNC109
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
            self._poll()
