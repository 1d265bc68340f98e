"""Reload actions backed by the supervisor (the ReloadAction protocol of :mod:`config_reloader.reload`).

* :class:`RestartReload`: ``--reload-method restart``, a graceful restart of the child.
* :class:`ReadyGatedReload`: waits until the child runs and is ready, then triggers the inner
  action, so a change that arrives while the child starts is applied right after readiness rather
  than after a retry backoff (a process that has no handler yet dies of SIGHUP: rule R8 in docs/design.md).
* :func:`build_action`: the action for ``--reload-method`` with optional runtime-info verification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from config_reloader.errors import SuperviseError

if TYPE_CHECKING:
    from config_reloader.reload import ReloadAction
    from config_reloader.supervise.supervisor import Supervisor

__all__ = ["ReadyGatedReload", "RestartReload", "build_action"]


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


def build_action(
    sup: Supervisor, method: str, *, reload_url: str | None, runtimeinfo_url: str | None, timeout: float
) -> tuple[ReloadAction, list[Any]]:
    """The ReloadAction for ``--reload-method`` (acting engine), gated on child readiness.

    Args:
        sup: the supervisor (its child is the target).
        method: ``"signal"`` (``sup.options.reload_signal``), ``"http"`` (POST ``reload_url``) or
            ``"restart"``.
        runtimeinfo_url: when given (signal/http), wrap in VerifiedReload (Thanos tracker.go).
        timeout: seconds per attempt (``--reload-timeout``).

    Returns:
        The action and the objects to ``aclose()`` when done (HTTP sessions).

    Raises:
        ValueError: unknown method, or ``http`` without a URL.
    """
    inner: ReloadAction
    closables: list[Any] = []
    if method == "restart":
        inner = RestartReload(sup)
    elif method == "http":
        from config_reloader.reload.http import HttpReload

        if not reload_url:
            raise ValueError("--reload-method http needs --reload-url")
        http = HttpReload(reload_url, timeout=timeout)
        closables.append(http)
        inner = http
    elif method == "signal":
        from config_reloader.reload.signal import SignalReload

        inner = SignalReload(
            signal=sup.options.reload_signal, target=lambda: sup.pid, timeout=timeout, ready=sup.is_ready
        )
    else:
        raise ValueError(f"unknown reload method {method!r}")
    if runtimeinfo_url and method != "restart":
        from config_reloader.reload.verify import VerifiedReload

        verified = VerifiedReload(inner, runtimeinfo_url=runtimeinfo_url, timeout=timeout)
        closables.append(verified)
        inner = verified
    if method == "restart":
        return inner, closables
    return ReadyGatedReload(inner, sup), closables
