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
reconciler runs the attempts. Names are imported lazily so that using signals never imports aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from config_reloader.durations import seconds_problem
from config_reloader.lazy import lazy_attributes

if TYPE_CHECKING:
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


@runtime_checkable
class ReloadAction(Protocol):
    """One way of telling a target to reload.

    Attributes:
        method: ``"http"``, ``"signal"``, ``"command"`` or ``"restart"``; exported as
            ``reloader_info{method}``.
    """

    method: str

    async def trigger(self) -> None:
        """Ask the target to reload once.

        Raises:
            ReloadTimeout: no answer within the action's timeout (back off; do not hammer).
            ReloadRejected: the target answered but refused (``.status``, ``.body``).
            TargetNotFound: no process / pid file / connection refused.
            TargetNotReady: the target exists but must not receive a reload yet.
            VerifyFailed: runtime info did not confirm the reload.
            asyncio.CancelledError: the attempt was cancelled (superseded or shutdown).
        """
        ...


@runtime_checkable
class PerTargetAction(Protocol):
    """An action over several targets that remembers which accepted the current content
    (:class:`~config_reloader.reload.multi.MultiReload`); the reload worker calls
    :meth:`new_round` when the content to reload changes."""

    def new_round(self) -> None:
        """Every target must reload again."""
        ...


def _require_positive_seconds(name: str, value: float) -> None:
    """The actions' duration check: ``ValueError`` naming ``name`` unless ``value`` > 0 seconds."""
    problem = seconds_problem(value, positive=True)
    if problem is not None:
        raise ValueError(f"{name} {problem}")


_LAZY = {
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
