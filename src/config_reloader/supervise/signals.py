"""Which signals ``run`` forwards, where they go, and holding back a reload signal until ready.

Forwarded to the child's whole process group (``killpg``): the stop signals (SIGTERM, SIGINT,
SIGQUIT) and job control (SIGTSTP, sent on as SIGSTOP, then ``run`` stops itself; SIGCONT), i.e.
what a terminal sends to a foreground job. Forwarded to the child alone (``kill``): SIGHUP,
SIGUSR1, SIGUSR2 and the reload signal, requests to the program that its main process relays
itself; SIGHUP and the reload signal are held back until the child is ready (a SIGHUP during
start-up kills a process that has not installed its handler yet).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config_reloader.supervise.process import Child
    from config_reloader.supervise.stopping import StopLadder

__all__ = ["FORWARDED_SIGNALS", "GROUP_SIGNALS", "SHUTDOWN_SIGNALS", "SignalForwarder"]

log = logging.getLogger("config_reloader.supervise")

#: Signals ``run`` forwards to its child, or to its process group (:data:`GROUP_SIGNALS`).
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


class SignalForwarder:
    """Forwards one received signal (:meth:`forward`); holds SIGHUP and ``reload_signal`` back
    while the child is not ready and delivers them on :meth:`deliver_held`.

    Args:
        reload_signal: held back like SIGHUP.
        stopper: starts the group's stop deadline and schedules SIGKILL on a shutdown signal.
        on_shutdown: called first for a shutdown signal (the supervisor stops restarting).
    """

    def __init__(self, reload_signal: int, stopper: StopLadder, on_shutdown: Callable[[], None]) -> None:
        self._reload_signal = reload_signal
        self._stopper = stopper
        self._on_shutdown = on_shutdown
        self._held: set[int] = set()

    def reset(self) -> None:
        """Forget held signals (a new child starts)."""
        self._held.clear()

    def forward(self, sig: int, child: Child | None, *, ready: bool) -> None:
        """Forward ``sig`` to ``child`` (or its group), hold it back, or log that no child runs."""
        name = signal.Signals(sig).name
        if sig in SHUTDOWN_SIGNALS:
            self._on_shutdown()
        if sig in GROUP_SIGNALS:
            self._forward_to_group(sig, child)
            return
        if child is None or not child.alive:
            log.info("signal received while no child runs", extra={"signal": name})
            return
        if sig in (signal.SIGHUP, self._reload_signal) and not ready:
            log.info("holding back signal until the child is ready", extra={"signal": name, "pid": child.pid})
            self._held.add(sig)
            return
        log.info("forwarding signal", extra={"signal": name, "pid": child.pid})
        child.send(sig)

    def deliver_held(self, child: Child) -> None:
        """Send the held-back signals to ``child`` (it just became ready)."""
        for sig in sorted(self._held):
            log.info(
                "delivering held-back signal", extra={"pid": child.pid, "signal": signal.Signals(sig).name}
            )
            child.send(sig)
        self._held.clear()

    def _forward_to_group(self, sig: int, child: Child | None) -> None:
        name = signal.Signals(sig).name
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
                self._stopper.start_group_deadline()
                if child.alive:
                    self._stopper.schedule_kill(child)
        else:
            log.info("signal received while no child runs", extra={"signal": name})
        if sig == signal.SIGTSTP:
            # Ctrl-Z: the terminal reaches only our group; having stopped the child's, stop
            # ourselves too, as the terminal would have. The shell's fg/bg then sends SIGCONT
            # to our group, which we forward to the child's.
            os.kill(os.getpid(), signal.SIGSTOP)
