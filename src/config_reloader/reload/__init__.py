"""Reload actions: how a service is told to re-read its configuration (the last step of the
data flow in docs/design.md).

Every action implements :class:`ReloadAction`, one async method that either returns (the target
accepted the reload) or raises a :class:`config_reloader.errors.ReloadError` subclass:

- :class:`~config_reloader.reload.http.HttpReload`: ``POST`` to Prometheus' ``/-/reload``.
- :class:`~config_reloader.reload.signal.SignalReload`: a signal (default SIGHUP) to a process found
  by executable name, pid file or a callable (``run``'s child).
- :class:`~config_reloader.reload.command.CommandReload`: run a command.
- :class:`~config_reloader.reload.verify.VerifiedReload`: wraps any of them and confirms the reload
  through Prometheus' runtime info (Thanos ``pkg/reloader/tracker.go`` semantics).

:class:`~config_reloader.reload.retry.RetryPolicy` says how long to wait between attempts; the
reconciler runs the attempts. Names are imported lazily: using signals loads no HTTP client, and
the URL check (:mod:`~config_reloader.reload.urls`) and the blocking reload
(:mod:`~config_reloader.reload.exchange`) load neither :mod:`typing` nor the protocols
(:mod:`~config_reloader.reload.action`).
"""

from __future__ import annotations

from config_reloader.durations import seconds_problem
from config_reloader.lazy import lazy_attributes

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from .action import PerTargetAction, ReloadAction
    from .command import CommandReload
    from .http import HttpReload
    from .multi import MultiReload
    from .retry import RetryPolicy
    from .signal import PidFile, PidSource, ProcessName, SignalReload
    from .verify import VerifiedReload

__all__ = [
    "CommandReload",
    "HttpReload",
    "MultiReload",
    "PerTargetAction",
    "PidFile",
    "PidSource",
    "ProcessName",
    "ReloadAction",
    "RetryPolicy",
    "SignalReload",
    "VerifiedReload",
]


def _require_positive_seconds(name: str, value: float) -> None:
    """The actions' duration check: ``ValueError`` naming ``name`` unless ``value`` > 0 seconds."""
    problem = seconds_problem(value, positive=True)
    if problem is not None:
        raise ValueError(f"{name} {problem}")


_LAZY = {
    "ReloadAction": "config_reloader.reload.action",
    "PerTargetAction": "config_reloader.reload.action",
    "CommandReload": "config_reloader.reload.command",
    "HttpReload": "config_reloader.reload.http",
    "MultiReload": "config_reloader.reload.multi",
    "RetryPolicy": "config_reloader.reload.retry",
    "PidFile": "config_reloader.reload.signal",
    "PidSource": "config_reloader.reload.signal",
    "ProcessName": "config_reloader.reload.signal",
    "SignalReload": "config_reloader.reload.signal",
    "VerifiedReload": "config_reloader.reload.verify",
}

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
