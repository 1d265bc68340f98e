"""``watch`` once its command line is read: the checks made at start, then the one-shot render
(``--watch-interval=0``) or the engine.

Both readers of the command line end here with a
:class:`~config_reloader.cli.watchflags.WatchSettings`: argparse's
(:func:`config_reloader.cli.watch.run`) and the plain-flag reader
(:func:`config_reloader.cli.watchflags.parse_plain`). This module imports neither argparse nor the
engine; the engine is imported when the sidecar's path is taken.
"""

from __future__ import annotations

# signal's C module: the signal module wraps it to convert numbers to enums, and with enum,
# functools and collections it was ~4 ms of CPU before the sidecar's first reload (the engine,
# which starts after it, imports signal all the same). Loaded by the interpreter at start-up.
import _signal  # type: ignore[import-not-found]  # (no stub: signal.pyi covers the wrapper only)
import os
import sys

from config_reloader.listen import parse_listen_address
from config_reloader.logs import LineLog, setup_logging

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Sequence

    from config_reloader.cli.watchflags import WatchSettings
    from config_reloader.logs import FieldLog
    from config_reloader.reconcile.options import ReloaderOptions

__all__ = ["LOGGER", "PROGRAM", "check_web_config_file", "flag_error", "start", "warn_missing_watched_dirs"]

LOGGER = "config_reloader.cli.watch"
"""The logger of ``watch``'s own lines (``caller=cli.watch``)."""

PROGRAM = "config-reloader watch"
"""The name ``watch``'s errors give the program unless it runs under another name
(``prometheus-config-reloader``: :data:`config_reloader.cli.PROGRAM_SUBCOMMANDS`)."""


def flag_error(program: str, message: str) -> int:
    """Print ``PROGRAM: error: MESSAGE (see PROGRAM --help)`` on stderr, the line argparse's
    parser prints for a flag error (:class:`~config_reloader.cli.parser.CliParser`), and return
    its exit status, 2."""
    print(f"{program}: error: {message} (see {program} --help)", file=sys.stderr)
    return 2


def _directory_given_as_file(options: ReloaderOptions) -> str | None:
    """The error for ``--config-file`` or ``--config-envsubst-file`` naming an existing
    directory (a mount point given instead of a file in it), else ``None``."""
    if options.config_envsubst_file is not None and os.path.isdir(options.config_envsubst_file):
        return (
            f"--config-envsubst-file {options.config_envsubst_file} is a directory: "
            "give the output file's path, a file name inside it"
        )
    if options.config_file is not None and os.path.isdir(options.config_file):
        return f"--config-file {options.config_file} is a directory: give the path of the config file"
    return None


def check_web_config_file(path: str) -> None:
    """Load ``--web-config-file`` once at start so that a mistake exits 2 with a clear message
    (prometheus-config-reloader validates it at start too). Empty path = no web config.

    Raises:
        ValueError: (:class:`~config_reloader.webconfig.WebConfigError`) unreadable file, invalid
            YAML, unknown or unsupported field, or a certificate/key that does not load.
    """
    if not path:
        return
    from config_reloader.webconfig import load_web_config  # yaml and bcrypt: only with the flag

    load_web_config(path)


def warn_missing_watched_dirs(
    dirs: Sequence[str], *, init_mode: bool = False, log: FieldLog | None = None
) -> None:
    """Log one WARNING per ``--watched-dir`` that does not exist (yet): it is watched from its
    parent and picked up when it appears, but a typo would otherwise go unnoticed. In init mode
    (``init_mode``: render once and exit) nothing is watched, and the warning says so.
    ``log``: where to (default: the ``config_reloader.cli.watch`` logger)."""
    if log is None:
        import logging

        log = logging.getLogger(LOGGER)
    msg = (
        "watched dir does not exist; init mode (--watch-interval=0) exits without waiting for it"
        if init_mode
        else "watched dir does not exist yet; will be picked up when it appears"
    )
    for d in dirs:
        if not os.path.exists(d):
            log.warning(msg, extra={"flag": "--watched-dir", "dir": d})


class _Stop(BaseException):
    """SIGTERM or SIGINT arrived before the engine handles them (a BaseException, as
    KeyboardInterrupt: no ``except Exception`` on the way may swallow it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _stop_on_signals() -> None:
    """SIGTERM and SIGINT raise :class:`_Stop` from now on, until the engine's event loop installs
    its own handlers: before that (the first reload, the engine's imports) they would end the
    process by their default action, not with exit 0 as they do once the engine runs."""
    names = {_signal.SIGTERM: "SIGTERM", _signal.SIGINT: "SIGINT"}

    def stop(signum: int, _frame: object) -> None:
        raise _Stop(names[signum])

    for sig in names:
        _signal.signal(sig, stop)


def start(settings: WatchSettings) -> int:
    """Run ``watch`` with ``settings``, logging to stdout as prometheus-config-reloader does.

    The one-shot render (``--watch-interval=0``) logs its few lines through a
    :class:`~config_reloader.logs.LineLog` (the same lines, without loading :mod:`logging`); the
    sidecar sets up :mod:`logging` (again, after argparse's path did to warn about its flags).

    Returns:
        The exit status: 2 when there is nothing to watch, ``--config-file`` or
        ``--config-envsubst-file`` is a directory or the web config is wrong (a line on stderr,
        :func:`flag_error`); else that of the one-shot render or of
        :func:`config_reloader.reconcile.service.run_watch`.
    """
    options = settings.options
    if options.config_file is None and not options.watched_dirs:
        return flag_error(settings.program, "nothing to watch: give --config-file and/or --watched-dir")
    problem = _directory_given_as_file(options)
    if problem is not None:
        return flag_error(settings.program, problem)
    try:
        check_web_config_file(settings.web_config_file)
    except ValueError as exc:
        return flag_error(settings.program, str(exc))
    if not options.reloads_enabled:
        # The init container's path: one synchronous render, no event loop, metrics or HTTP
        # (config_reloader.reconcile.once says why).
        from config_reloader.reconcile.once import run_once

        log = LineLog(LOGGER, settings.log_format, settings.log_level, sys.stdout)
        warn_missing_watched_dirs(options.watched_dirs, init_mode=True, log=log)
        return run_once(options, log)
    if not any(u and u.lower().startswith("https:") for u in (*options.reload_urls, options.runtimeinfo_url)):
        from config_reloader.lean import forgo_ssl

        forgo_ssl()  # before asyncio and the HTTP client load: config_reloader.lean says why
    fmt, level = settings.log_format, settings.log_level
    _stop_on_signals()
    try:
        return _sidecar(options, fmt, level)
    except _Stop as stop:
        LineLog(LOGGER, fmt, level, sys.stdout).info("received signal, exiting", extra={"signal": stop.name})
        return 0


def _sidecar(options: ReloaderOptions, fmt: str, level: str) -> int:
    """The first reload (when :func:`~config_reloader.reconcile.first.eligible`), then the engine.

    The first reload comes before the engine is imported (:mod:`config_reloader.reconcile.first`
    says why); its lines go through a :class:`~config_reloader.logs.LineLog`, the same lines
    without loading :mod:`logging`.
    """
    from config_reloader.reconcile.first import eligible, first_reload

    first = None
    listener = None
    if eligible(options):
        if options.listen_address is not None:
            # Bound now, served once the engine runs: an address that cannot be bound ends the
            # process before it reloads the target (config_reloader.listener says why). Imported
            # here: the one-shot render, which shares this module, opens no socket (_socket is
            # ~1.4 M instructions).
            from config_reloader.listener import bind_listener, listen_problem

            try:
                listener = bind_listener(*parse_listen_address(options.listen_address)).detach()
            except OSError as exc:
                LineLog("config_reloader.reconcile", fmt, level, sys.stdout).error(
                    "cannot listen on --listen-address",
                    extra={"listen_address": options.listen_address, "err": listen_problem(exc)},
                )
                return 1
        warn_missing_watched_dirs(options.watched_dirs, log=LineLog(LOGGER, fmt, level, sys.stdout))
        first = first_reload(options, LineLog("config_reloader.reconcile", fmt, level, sys.stdout))
        setup_logging(fmt, level, sys.stdout)
    else:
        setup_logging(fmt, level, sys.stdout)
        warn_missing_watched_dirs(options.watched_dirs)
    import asyncio
    import gc

    from config_reloader.reconcile.service import run_watch

    if not gc.isenabled():  # turned off for start-up by config_reloader.cli._defer_collection
        gc.freeze()  # start-up objects live as long as the process: never scan them again
        gc.enable()
    return asyncio.run(run_watch(options, first, listener))
