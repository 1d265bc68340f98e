"""How ``run`` supervises its child: :class:`SuperviseOptions`, checked once when built."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from config_reloader.durations import seconds_problem
from config_reloader.supervise.signals import FORWARDED_SIGNALS

__all__ = ["RESTART_POLICIES", "RestartPolicy", "SuperviseOptions"]

RestartPolicy = Literal["no", "on-failure", "always"]
RESTART_POLICIES: tuple[RestartPolicy, ...] = get_args(RestartPolicy)
"""The values of :data:`RestartPolicy` (``--restart``)."""


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
        for name in ("stop_timeout", "restart_delay", "ready_delay"):
            value = getattr(self, name)
            problem = None if value is None else seconds_problem(value)
            if problem is not None:
                raise ValueError(f"{name}: {problem}")
        if self.restart not in RESTART_POLICIES:
            raise ValueError(f"restart: must be no, on-failure or always, got {self.restart!r}")
        if self.max_restarts_per_minute < 0:
            raise ValueError("max_restarts_per_minute: must be >= 0")
        if self.cpus is not None and not self.cpus:
            raise ValueError("cpus: the pin set is empty (the condition should have failed)")
