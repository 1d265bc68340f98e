"""The one factory of reload actions: :func:`build_action` turns :class:`ReloaderOptions` (and,
under ``run``, the supervised child) into a :class:`~config_reloader.reload.ReloadAction`.

Used by the library's :class:`~config_reloader.reconcile.loop.Reloader` (``watch``) and by
:func:`config_reloader.supervise.supervise` (``run``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from config_reloader.reconcile.options import ReloaderOptions
    from config_reloader.reload import ReloadAction
    from config_reloader.reload.signal import PidSource

__all__ = ["Closable", "build_action"]


class Closable(Protocol):
    """An object holding a session or connection, closed with ``await obj.aclose()``."""

    async def aclose(self) -> None: ...


def build_action(
    options: ReloaderOptions,
    *,
    method: str | None = None,
    signal_target: PidSource | None = None,
    ready: Callable[[], Awaitable[bool]] | None = None,
    restart: ReloadAction | None = None,
    verify_http: bool = False,
    on_target_result: Callable[[str, bool], None] | None = None,
) -> tuple[ReloadAction, list[Closable]]:
    """The reload action for ``method`` (default ``options.reload_method``).

    * ``"http"``: POST ``options.reload_url`` (one connection per reload); verified through
      ``options.runtimeinfo_url`` only when ``verify_http`` (``run`` does, ``watch`` does not,
      like prometheus-config-reloader). Several ``options.reload_urls``: one
      :class:`~config_reloader.reload.multi.MultiReload` over them (each retried on its own;
      ``on_target_result(target, ok)`` after each target's attempt).
    * ``"command"``: run ``options.reload_command`` (success = exit 0; output logged, with the
      credential files' contents masked).
    * ``"signal"``: ``options.reload_signal`` to ``signal_target`` (default: the pid file, else
      the process named ``options.process_executable_name``), held back until ``ready`` is true
      (default: runtime info answers, when ``options.runtimeinfo_url`` is set: never SIGHUP a
      target that has not installed its handler yet), then verified through runtime info.
    * ``"restart"``: ``restart`` itself (``run``'s graceful restart of its child).

    Returns:
        The action and the objects the caller closes when done (HTTP sessions).

    Raises:
        ValueError: an unknown method, or ``"restart"`` without ``restart``.
    """
    method = options.reload_method if method is None else method
    closables: list[Closable] = []
    o = options
    if method == "restart":
        if restart is None:
            raise ValueError("reload method 'restart' needs the supervisor's restart action")
        return restart, closables
    # The reload modules are imported per method: signal mode never imports aiohttp.
    inner: ReloadAction
    if method == "http":
        from config_reloader.reload.http import HttpReload

        posts = [HttpReload(url, timeout=o.reload_timeout, client=o.http_client) for url in o.reload_urls]
        closables.extend(posts)
        if len(posts) == 1:
            inner = posts[0]
        else:
            from config_reloader.reload.multi import MultiReload

            inner = MultiReload(posts, on_result=on_target_result)
        verify = verify_http
    elif method == "command":
        from config_reloader.reload.command import CommandReload

        if o.reload_command is None:
            raise ValueError("reload method 'command' needs ReloaderOptions.reload_command")
        client = o.http_client
        return CommandReload(
            o.reload_command, timeout=o.reload_timeout, secrets=client.secret_values if client else None
        ), closables
    elif method == "signal":
        from config_reloader.reload.signal import PidFile, ProcessName, SignalReload
        from config_reloader.reload.verify import runtimeinfo_ready

        target: PidSource
        if signal_target is not None:
            target = signal_target
        else:
            target = (
                PidFile(o.pid_file)
                if o.pid_file
                else ProcessName(o.process_executable_name, match=o.process_match)
            )
        gate = ready
        if gate is None and o.runtimeinfo_url:
            # Prometheus answers runtime info only once it is up (and has its SIGHUP handler).
            check = runtimeinfo_ready(
                o.runtimeinfo_url, timeout=min(5.0, o.reload_timeout), client=o.http_client
            )
            closables.append(check)
            gate = check
        inner = SignalReload(signal=o.reload_signal, target=target, timeout=o.reload_timeout, ready=gate)
        verify = True
    else:
        raise ValueError(f"unknown reload method {method!r}")
    if verify and o.runtimeinfo_url:
        from config_reloader.reload.verify import VerifiedReload

        verified = VerifiedReload(
            inner, runtimeinfo_url=o.runtimeinfo_url, timeout=o.reload_timeout, client=o.http_client
        )
        closables.append(verified)
        return verified, closables
    return inner, closables
