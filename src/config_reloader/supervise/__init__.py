"""The supervisor behind ``config-reloader run``: gate, pin, spawn, forward signals, reap, restart.

Parts, in the order ``run`` uses them:

* :func:`gate` (``gate.py``) evaluates ``Condition*=`` / ``Assert*=`` (systemd semantics, engine in
  :mod:`config_reloader.conditions`) and computes the pin set: the CPUs of the current affinity mask
  on which every feature named by ``ConditionCPUFeature=`` is usable (:mod:`config_reloader.cpu`).
* :class:`Supervisor` (``supervisor.py``; options in ``options.py``, plumbing in ``process.py``,
  ``signals.py``, ``stopping.py``, ``readiness.py``, ``reaping.py``) owns one child process at
  a time: it starts it in a session and process group of its own with the pin set as CPU
  affinity, forwards SIGTERM, SIGINT, SIGQUIT, SIGTSTP and SIGCONT to the child's process group
  and SIGHUP, SIGUSR1 and SIGUSR2 to the child alone, holds back a SIGHUP (and the reload signal)
  until the child is ready, reaps every zombie (PID 1 in a container, or child subreaper via
  ``prctl(PR_SET_CHILD_SUBREAPER)`` otherwise), stops the child's group with an escalating ladder
  (stop signal, ``stop_timeout``, SIGKILL), leaves nothing of that group running when an
  incarnation ends, and restarts it by policy, at most ``max_restarts_per_minute`` times in any
  60 s window.
* :class:`RestartReload` and :class:`ReadyGatedReload` (``actions.py``) adapt the supervisor to
  the reloader's :class:`~config_reloader.reload.ReloadAction` protocol (``--reload-method
  restart``, and "never signal a child before it is ready; apply a change that came early right
  after readiness").
* :func:`supervise` wires gate, reloader (render once before the first start, so the child never
  starts without its rendered config: the init-container ordering bug
  prometheus-operator#3061), status server and supervisor together and returns the exit status
  ``run`` exits with.

Exit statuses follow shells and container runtimes: the child's exit code, or 128 + N when it died
by signal N; 127 when the command is not found, 126 when it cannot be executed.

Sources: ``prctl(2)`` (PR_SET_CHILD_SUBREAPER = 36), ``wait(2)``, ``setsid(2)``, ``proc(5)``
(``/proc/PID/task/TID/children``, ``/proc/PID/stat`` field 3 state ``Z``, field 5 pgrp),
``signal(7)`` (PID 1 in a PID namespace receives only signals it has handlers for),
prometheus/prometheus#14917 (SIGHUP during start-up kills the target).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from config_reloader.supervise.actions import ReadyGatedReload, RestartReload
from config_reloader.supervise.childmetrics import ChildMetrics, format_cpus
from config_reloader.supervise.gate import GateResult, gate
from config_reloader.supervise.options import RestartPolicy, SuperviseOptions
from config_reloader.supervise.process import (
    Child,
    exit_status_from_wait,
    list_children,
    process_group_members,
    set_child_subreaper,
)
from config_reloader.supervise.signals import FORWARDED_SIGNALS, GROUP_SIGNALS, SHUTDOWN_SIGNALS
from config_reloader.supervise.supervisor import Supervisor

if TYPE_CHECKING:
    from config_reloader.promtext import Registry as CollectorRegistry
    from config_reloader.reconcile.options import ReloaderOptions

__all__ = [
    "FORWARDED_SIGNALS",
    "GROUP_SIGNALS",
    "SHUTDOWN_SIGNALS",
    "Child",
    "ChildMetrics",
    "GateResult",
    "ReadyGatedReload",
    "RestartPolicy",
    "RestartReload",
    "SuperviseOptions",
    "Supervisor",
    "exit_status_from_wait",
    "format_cpus",
    "gate",
    "list_children",
    "process_group_members",
    "set_child_subreaper",
    "supervise",
]

log = logging.getLogger(__name__)


async def supervise(
    options: SuperviseOptions,
    *,
    reloader_options: ReloaderOptions | None = None,
    reload_method: Literal["signal", "http", "restart"] = "signal",
    listen_address: str | None = None,
    registry: CollectorRegistry | None = None,
    on_started: Callable[[Supervisor], None] | None = None,
) -> int:
    """Render once, start the child, keep its config reloaded, return the exit status for ``run``.

    Args:
        options: the supervision options (command, pin set, ladder, restart policy, readiness).
        reloader_options: what to watch and how to reload (the one carrier of the reload
            settings: URLs, runtime-info verification, timeouts), or None for no config watching.
            Its ``reload_signal`` is replaced by ``options.reload_signal`` (the supervisor holds
            that signal back until the child is ready) and it serves no status server of its own.
        reload_method: ``signal`` (``options.reload_signal`` to the child), ``http`` (POST
            ``reloader_options.reload_url``) or ``restart`` (graceful restart); verified through
            ``reloader_options.runtimeinfo_url`` when set (Thanos tracker.go semantics).
        listen_address: ``host:port`` for /metrics /healthz /ready; None = no server.
        registry: metrics registry (a fresh one is made when serving and None).
        on_started: called once the supervisor object exists (tests, embedding).

    Returns:
        The exit status: the child's, 128+N for signal N, 127/126 when it cannot be started.

    Raises:
        RenderError: the config could not be rendered before the first start (the child is not
            started; the CLI maps it to exit status 1).
    """
    if registry is None and listen_address is not None:
        from config_reloader.promtext import Registry as _Registry

        registry = _Registry()
    metrics = ChildMetrics(registry) if registry is not None else None
    if metrics is not None:
        metrics.set_pin(options.cpus)
    sup = Supervisor(options, metrics=metrics)
    if on_started is not None:
        on_started(sup)

    reloader: Any = None
    closables: list[Any] = []
    if reloader_options is not None:
        from config_reloader.reconcile import Reloader, build_action

        # One status server for run (child + reloader readiness), so the reloader serves none.
        reloader_options = reloader_options.replace(listen_address=None, reload_signal=options.reload_signal)
        action, closables = build_action(
            reloader_options,
            method=reload_method,
            signal_target=lambda: sup.pid,
            ready=sup.is_ready,
            restart=RestartReload(sup),
            verify_http=True,
        )
        if reload_method != "restart":
            action = ReadyGatedReload(action, sup)
        reloader = Reloader(reloader_options, action=action, registry=registry)

    def ready() -> bool:
        return sup.ready and (reloader is None or bool(reloader.ready))

    async with contextlib.AsyncExitStack() as stack:
        for c in closables:
            stack.push_async_callback(c.aclose)
        if reloader is not None:
            await stack.enter_async_context(reloader)
            await reloader.render_once()  # the child never starts without its rendered config
        if listen_address is not None and registry is not None:
            from config_reloader.metrics import StatusServer

            server = StatusServer(listen_address, registry, ready=ready)
            await server.start()
            stack.push_async_callback(server.stop)
            log.info("serving metrics", extra={"listen_address": listen_address, "port": server.port})
        sup_task = asyncio.ensure_future(sup.run())
        loop_task: asyncio.Future[Any] | None = None
        try:
            if reloader is not None:
                started = asyncio.ensure_future(sup.started.wait())
                await asyncio.wait([sup_task, started], return_when=asyncio.FIRST_COMPLETED)
                started.cancel()
                if not sup_task.done():
                    loop_task = asyncio.ensure_future(reloader.run(initial_reload=False))
            if loop_task is not None:
                await asyncio.wait([sup_task, loop_task], return_when=asyncio.FIRST_COMPLETED)
                if not sup_task.done() and loop_task.exception() is not None:
                    exc = loop_task.exception()
                    log.error("reloader loop failed: stopping the child", extra={"err": str(exc)})
                    sup.stop()
                    status = await sup_task
                    return status or 1
            return await sup_task
        finally:
            for t in (loop_task, sup_task):
                if t is not None and not t.done():
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await t
