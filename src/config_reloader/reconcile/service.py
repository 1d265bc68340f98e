"""Running the reloader as a process: the event loop's signal handlers, the CLI's metrics
registry, exit statuses. ``config-reloader watch`` parses its flags (:mod:`config_reloader.cli.watch`)
and hands the options to :func:`run_watch`; ``run`` uses :func:`cli_registry` and
:func:`listen_error` too.

Exit statuses of :func:`run_watch`: 0 on SIGTERM/SIGINT or after ``watch_interval == 0`` rendered
the output; 1 when rendering fails in init mode, the status server cannot listen, or the loop dies.

Signals while watching: SIGTERM/SIGINT stop (within :data:`STOP_GRACE` seconds whatever a worker
thread is blocked in); SIGHUP asks for an immediate full rescan (the Go reloaders die on it, exit
129; a reloader that an operator or a process manager HUPs should look again, not stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING

from config_reloader.errors import ConfigReloaderError
from config_reloader.listener import listen_problem
from config_reloader.reconcile.loop import Reloader
from config_reloader.render import kill_validators
from config_reloader.sigstate import unblock

if TYPE_CHECKING:
    from config_reloader.promtext import Registry
    from config_reloader.reconcile.first import FirstReload
    from config_reloader.reconcile.options import ReloaderOptions

__all__ = ["cli_registry", "listen_error", "run_watch"]

log = logging.getLogger("config_reloader.cli.watch")

# After SIGTERM the loop is cancelled, then asyncio.run() joins the default executor's threads
# and the interpreter joins them again at exit (they are not daemon threads): one blocked in a
# read that never returns or waiting for a hung validator would keep the process alive forever.
# A daemon timer armed by the signal ends the process this many seconds later in any case.
STOP_GRACE = 1.5


def _exit_anyway_after(seconds: float, status: int) -> None:
    def hard_exit() -> None:
        log.warning(
            "a worker thread is still busy after the stop signal: exiting without waiting for it",
            extra={"grace_seconds": seconds},
        )
        for handler in logging.getLogger("config_reloader").handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)

    timer = threading.Timer(seconds, hard_exit)
    timer.daemon = True  # never itself a reason to stay alive
    timer.start()


def cli_registry() -> Registry:
    """The registry a reloader process serves on ``/metrics``, like the Go peers' default one:
    a fresh :class:`~config_reloader.promtext.Registry` with the ``process_*`` metrics (the
    counterpart of Go's process collector) and ``prometheus_config_reloader_build_info``
    (:mod:`config_reloader.buildinfo`)."""
    from config_reloader.metrics import register_build_info
    from config_reloader.promtext import ProcessCollector, Registry

    registry = Registry()
    ProcessCollector(registry)
    register_build_info(registry)
    return registry


def listen_error(exc: BaseException) -> OSError | None:
    """The bind error in ``exc`` (itself or inside an exception group): EADDRINUSE or
    EADDRNOTAVAIL, which only binding raises, or a :class:`socket.gaierror` (the listen host
    name does not resolve; reload URLs are resolved by the reload client, which retries and
    never lets it out), so the caller can name ``--listen-address``."""
    if isinstance(exc, socket.gaierror):
        return exc
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = listen_error(inner)
            if found is not None:
                return found
    return None


async def run_watch(
    options: ReloaderOptions, first: FirstReload | None = None, listener: int | None = None
) -> int:
    """Run the reloader until SIGTERM/SIGINT (exit 0); init mode renders once (0, or 1 on error).

    ``first``: the reload ``watch`` did before the event loop
    (:func:`~config_reloader.reconcile.first.first_reload`), and ``listener``: the status
    server's socket it bound before (a file descriptor), both handed to the
    :class:`~config_reloader.reconcile.loop.Reloader`."""
    if not options.reloads_enabled:  # the CLI calls run_once itself, without an event loop
        from config_reloader.reconcile.once import run_once

        return await asyncio.to_thread(run_once, options, log)
    reloader = Reloader(options, registry=cli_registry(), first=first, listener=listener)

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopping: list[str] = []

    def stop(signame: str) -> None:
        if not stopping:
            log.info("received signal, exiting", extra={"signal": signame})
            stopping.append(signame)
            kill_validators()  # a validator's worker thread then returns at once
            _exit_anyway_after(STOP_GRACE, 0)
            task.cancel()

    def rescan() -> None:
        queued = reloader.rescan(reason="sighup")
        log.info("received SIGHUP: full rescan" if queued else "received SIGHUP before watching started")

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    loop.add_signal_handler(signal.SIGHUP, rescan)
    unblock((signal.SIGTERM, signal.SIGINT, signal.SIGHUP))  # an inherited mask would hold them back
    try:
        await reloader.run()
    except asyncio.CancelledError:
        if not stopping:
            raise
        task.uncancel()
        return 0
    except Exception as exc:  # ExceptionGroup from the loop's TaskGroup included
        bind_failure = listen_error(exc) if options.listen_address is not None else None
        if bind_failure is not None:
            log.error(
                "cannot listen on --listen-address",
                extra={"listen_address": options.listen_address, "err": listen_problem(bind_failure)},
            )
            return 1
        log.error(
            "reloader stopped", extra={"err": str(exc)}, exc_info=not isinstance(exc, ConfigReloaderError)
        )
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return 0
