"""The protocols of reload actions: :class:`ReloadAction` (every action) and
:class:`PerTargetAction` (actions over several targets). Reached as
``config_reloader.reload.ReloadAction``; a module of its own so that importing the package does
not import :mod:`typing` (~12 M instructions before the sidecar's first reload).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["PerTargetAction", "ReloadAction"]


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


# Where they are documented and imported from.
ReloadAction.__module__ = PerTargetAction.__module__ = "config_reloader.reload"
