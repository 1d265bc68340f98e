"""Reload actions backed by the supervisor (the ReloadAction protocol of :mod:`config_reloader.reload`).

* :class:`RestartReload`: ``--reload-method restart``, a graceful restart of the child.
* :class:`ReadyGatedReload`: waits until the child runs and is ready, then triggers the inner
  action, so a change that arrives while the child starts is applied right after readiness rather
  than after a retry backoff (a process that has no handler yet dies of SIGHUP: rule R8 in docs/design.md).

The action for ``--reload-method`` itself comes from the one factory,
:func:`config_reloader.reconcile.actions.build_action` (see :func:`config_reloader.supervise.supervise`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from config_reloader.errors import SuperviseError

if TYPE_CHECKING:
    from config_reloader.reload import ReloadAction
    from config_reloader.supervise.supervisor import Supervisor

__all__ = ["ReadyGatedReload", "RestartReload"]


class RestartReload:
    """``--reload-method restart``: a reload is a graceful restart of the child (stop ladder, start).

    Implements the ReloadAction protocol (``method = "restart"``).

    Raises (from trigger):
        TargetNotFound: the supervisor stopped before the new child became ready.
    """

    method = "restart"

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    async def trigger(self) -> None:
        from config_reloader.errors import TargetNotFound

        try:
            await self.supervisor.restart_child()
        except SuperviseError as exc:
            raise TargetNotFound(str(exc), target="child") from exc


class ReadyGatedReload:
    """Wrap a ReloadAction so it waits until the child is running and ready, then triggers.

    A change that arrives while the child starts is applied right after readiness instead of
    failing and waiting for the retry backoff (never signal a process that has not installed its
    handler yet: rule R8 in docs/design.md).
    """

    def __init__(self, inner: ReloadAction, supervisor: Supervisor) -> None:
        self.inner = inner
        self.supervisor = supervisor
        self.method = inner.method

    async def trigger(self) -> None:
        await self.supervisor.wait_ready()
        await self.inner.trigger()
