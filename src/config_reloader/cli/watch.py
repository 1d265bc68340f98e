"""``config-reloader watch``: a drop-in for prometheus-operator's ``prometheus-config-reloader``.

Flags keep that program's names, defaults and meaning (kingpin
accepts both ``--flag=value`` and ``--flag value``, so does argparse). Durations are Go durations
(``0``, ``500ms``, ``5s``, ``3m``). Ours: ``--validate-command``, ``--reload-signal``,
``--pid-file``, ``--strict-env``, ``--force-polling``.

Exit statuses: 2 on bad flags; otherwise those of
:func:`config_reloader.reconcile.service.run_watch`, which runs the engine (0 on SIGTERM/SIGINT or
after ``--watch-interval=0`` rendered the output; 1 when rendering fails in init mode or the loop
dies).

``add_watch_arguments`` and ``watch_options_from_args`` are reused by ``config-reloader run``;
the flags' ``type=`` functions are in :mod:`~config_reloader.cli.argtypes`, the compatibility-only
flags in :mod:`~config_reloader.cli.compat`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

from config_reloader.cli.argtypes import (
    ReloadUrlAction,
    UrlAction,
    WatchIgnoreAction,
    parse_duration_arg,
    parse_http_url,
    parse_listen_address_arg,
    parse_log_level,
    parse_optional_http_url,
    parse_signal,
    parse_size_arg,
)
from config_reloader.cli.compat import add_compat_arguments
from config_reloader.cli.watchflags import (
    DEFAULT_LOG_FORMAT,
    DEFAULT_LOG_LEVEL,
    FLAGS_NAMED_OTHERWISE,
    WatchSettings,
    flag_of,
)
from config_reloader.cli.watchstart import (
    PROGRAM,
    check_web_config_file,
    flag_error,
    start,
    warn_missing_watched_dirs,
)
from config_reloader.durations import format_duration
from config_reloader.logs import LOG_FORMATS
from config_reloader.sizes import format_size

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Any

    from config_reloader.reconcile.options import ReloaderOptions

__all__ = [
    "FLAGS_NAMED_OTHERWISE",
    "add_compat_arguments",
    "add_watch_arguments",
    "check_web_config_file",
    "flag_of",
    "parse_duration_arg",
    "parse_http_url",
    "parse_listen_address_arg",
    "parse_log_level",
    "parse_optional_http_url",
    "parse_signal",
    "register",
    "run",
    "warn_missing_watched_dirs",
    "watch_options_from_args",
]


class _StoreGiven(argparse.Action):
    """Store like ``store`` and set ``<dest>_given``: tells "--reload-method=http" written out
    from the default, which conflicts with nothing."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, self.dest + "_given", True)


def add_watch_arguments(
    parser: argparse.ArgumentParser,
    *,
    default_reload_method: str = "http",
    reload_methods: tuple[str, ...] = ("http", "signal"),
    for_run: bool = False,
) -> None:
    """Add the prometheus-config-reloader flags (and ours) to ``parser``.

    Args:
        parser: the (sub)parser.
        default_reload_method: ``"http"`` for ``watch``; ``run`` passes its own.
        reload_methods: accepted values of ``--reload-method``.
        for_run: ``run``'s wording: the target is its child, so the flags that find a process
            (``--process-executable-name``, ``--pid-file``) are hidden (``run`` refuses them),
            and runtime-info verification is off unless ``--runtimeinfo-url`` is given.
    """
    # The defaults live once, in ReloaderOptions (as do the checks: watch_options_from_args).
    from config_reloader.reconcile.options import ReloaderOptions

    default: dict[str, Any] = ReloaderOptions().as_dict()
    g = parser.add_argument_group("what to watch and render")
    g.add_argument(
        "--config-file",
        metavar="PATH",
        help="config file to watch for changes (gzip is detected by its magic bytes)",
    )
    g.add_argument(
        "--config-envsubst-file",
        metavar="PATH",
        help="write the config file here after gunzip and $(VAR) expansion (atomically); "
        "Prometheus then reads this file",
    )
    g.add_argument(
        "--watched-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="directory to watch non-recursively, e.g. rule files (repeatable)",
    )
    g.add_argument(
        "--statefulset-ordinal-from-envvar",
        metavar="VAR",
        default=default["statefulset_ordinal_from_envvar"],
        help="expose the trailing digits of this environment variable as "
        "$(STATEFULSET_ORDINAL_NUMBER) (default: %(default)s)",
    )
    g.add_argument(
        "--strict-env",
        action="store_true",
        help="an unset $(VAR) is an error (output kept, no reload); default: left verbatim, "
        "counted in reloader_config_environment_variable_expansion_errors",
    )
    g.add_argument(
        "--validate-command",
        metavar="CMD",
        help="command run on the rendered candidate before it is written, e.g. "
        "'promtool check config {}' ({} = candidate path); non-zero exit keeps the "
        "previous output and sends no reload",
    )
    g.add_argument(
        "--max-config-size",
        metavar="SIZE",
        type=parse_size_arg,
        default=default["max_config_size"],
        help="bound of the config file, of its gunzipped form and of the $(VAR)-expanded output "
        "(e.g. 64MiB); a bigger config is an error, the previous output is kept "
        f"(default: {format_size(default['max_config_size'])})",
    )

    t = parser.add_argument_group("timing")
    t.add_argument(
        "--watch-interval",
        metavar="DURATION",
        type=parse_duration_arg,
        default=default["watch_interval"],
        help="full resync period even without events; 0 = render once, no reload, exit 0 "
        f"(init container mode) (default: {format_duration(default['watch_interval'])})",
    )
    t.add_argument(
        "--delay-interval",
        metavar="DURATION",
        type=parse_duration_arg,
        default=default["delay_interval"],
        help="quiet period after the last change before applying (debounce); 0 = at once "
        "(in-place writes still wait for the writer to close the file) "
        f"(default: {format_duration(default['delay_interval'])})",
    )
    t.add_argument(
        "--retry-interval",
        metavar="DURATION",
        type=parse_duration_arg,
        default=default["retry_interval"],
        help="first wait between failed reload attempts, then doubling with jitter, capped at "
        f"{format_duration(default['retry_max_interval'])} "
        f"(default: {format_duration(default['retry_interval'])})",
    )
    t.add_argument(
        "--reload-timeout",
        metavar="DURATION",
        type=parse_duration_arg,
        default=default["reload_timeout"],
        help="bound of one reload attempt; a timeout backs off, never re-sends at once "
        f"(default: {format_duration(default['reload_timeout'])})",
    )
    from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS

    t.add_argument(
        "--watch-ignore",
        metavar="GLOB",
        action=WatchIgnoreAction,
        default=None,
        help="base-name glob of files in the watched dirs that are not configuration: no reload, "
        "not hashed (repeatable; adds to the defaults; an empty value clears the list so far). "
        f"Defaults: {' '.join(DEFAULT_IGNORE_GLOBS)} (writers' temp files, editor backups, locks)",
    )
    t.add_argument(
        "--force-polling",
        action="store_true",
        help="poll instead of inotify (automatic fallback when inotify limits are hit)",
    )

    r = parser.add_argument_group("how to reload")
    r.add_argument(
        "--reload-method",
        action=_StoreGiven,
        choices=reload_methods,
        default=default_reload_method,
        help=(
            "signal = send --reload-signal to the child; http = POST --reload-url; restart = "
            "restart the child (stop it with the stop ladder, start it, wait until ready)"
            if for_run
            else "http = POST --reload-url; signal = send --reload-signal to the process; command = "
            "run --reload-command"
        )
        + " (default: %(default)s)",
    )
    r.add_argument(
        "--reload-url",
        metavar="URL",
        action=ReloadUrlAction,
        default=default["reload_url"],
        help="URL POSTed to reload in http mode; success only on 200. Repeatable: several targets, "
        "applied when all answered 200, each retried on its own (default: %(default)s)",
    )
    r.add_argument(
        "--process-executable-name",
        metavar="NAME",
        default=None if for_run else default["process_executable_name"],
        help=argparse.SUPPRESS
        if for_run
        else "signal mode: the process to signal, by executable name (default: %(default)s)",
    )
    r.add_argument(
        "--process-match",
        choices=("oldest", "all", "single"),
        default=None if for_run else default["process_match"],
        help=argparse.SUPPRESS
        if for_run
        else "signal mode, several processes with that name: signal the oldest, all of them, or "
        "none (single: an error) (default: %(default)s)",
    )
    r.add_argument(
        "--pid-file",
        metavar="PATH",
        help=argparse.SUPPRESS
        if for_run
        else "signal mode: read the pid to signal from this file (instead of the name)",
    )
    r.add_argument(
        "--reload-signal",
        metavar="SIGNAL",
        type=parse_signal,
        default=default["reload_signal"],
        help=f"signal mode: signal to send{' to the child' if for_run else ''}, name or number "
        "(default: SIGHUP)",
    )
    r.add_argument(
        "--runtimeinfo-url",
        metavar="URL",
        action=UrlAction,
        default="" if for_run else default["runtimeinfo_url"],
        help="verify each reload through this runtime info URL (reloadConfigSuccess, "
        "lastConfigTime), e.g. http://127.0.0.1:9090/api/v1/status/runtimeinfo (default: off)"
        if for_run
        else "signal mode: the signal is held back until this answers and the reload is "
        "verified through it (reloadConfigSuccess, lastConfigTime); empty = no "
        "verification (default: %(default)s)",
    )

    o = parser.add_argument_group("observability")
    o.add_argument(
        "--listen-address",
        metavar="HOST:PORT",
        type=parse_listen_address_arg,
        default="",
        help="serve /metrics, /healthz and /ready here; empty = off (default: off)",
    )
    o.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=DEFAULT_LOG_FORMAT,
        help="log format (default: %(default)s)",
    )
    o.add_argument(
        "--log-level",
        metavar="{all,debug,info,warn,error,none}",
        type=parse_log_level,
        default=DEFAULT_LOG_LEVEL,
        help="log level; all = debug, none = nothing at all, as prometheus-config-reloader (default: info)",
    )


def watch_options_from_args(args: argparse.Namespace) -> ReloaderOptions:
    """Build :class:`~config_reloader.reconcile.options.ReloaderOptions` from parsed watch flags.

    Raises:
        ValueError: inconsistent flags (the message names the flag).
    """
    from config_reloader.reconcile.options import ReloaderOptions, SettingError

    validate: tuple[str, ...] | None = None
    if args.validate_command:
        try:
            validate = tuple(shlex.split(args.validate_command))
        except ValueError as exc:
            raise ValueError(f"--validate-command: cannot split {args.validate_command!r}: {exc}") from None
    for d in args.watched_dir:
        if os.path.exists(d) and not os.path.isdir(d):
            raise ValueError(f"--watched-dir {d!r} is not a directory")
    method = args.reload_method
    extra: dict[str, Any] = {}
    for name in ("process_executable_name", "process_match"):  # None under run (its target is its child)
        if getattr(args, name) is not None:
            extra[name] = getattr(args, name)
    ignore = getattr(args, "watch_ignore", None)
    if ignore is not None:
        extra["watch_ignore"] = tuple(ignore)
    urls = list(getattr(args, "reload_urls", None) or [args.reload_url])
    if hasattr(args, "reload_command"):  # watch's reload-client flags (not on run's parser)
        from config_reloader.cli.client_flags import client_config_from_args, reload_command_from_args

        command = reload_command_from_args(args)
        if command is not None:
            if method == "signal" or (method == "http" and getattr(args, "reload_method_given", False)):
                raise ValueError(f"--reload-command and --reload-method={method} exclude each other")
            method = "command"
        elif method == "command":
            raise ValueError("--reload-method=command needs --reload-command")
        extra["reload_command"] = command
        extra["http_client"] = client_config_from_args(args)
    if len(urls) > 1 and method != "http":
        raise ValueError(f"several --reload-url are only used by --reload-method=http, not {method}")
    try:
        return ReloaderOptions(
            **extra,
            config_file=args.config_file or None,
            config_envsubst_file=args.config_envsubst_file or None,
            watched_dirs=tuple(args.watched_dir),
            watch_interval=args.watch_interval,
            delay_interval=args.delay_interval,
            retry_interval=args.retry_interval,
            reload_timeout=args.reload_timeout,
            reload_url=urls[0],
            extra_reload_urls=tuple(urls[1:]),
            reload_method=method if method in ("http", "signal", "command") else "signal",
            pid_file=args.pid_file or None,
            reload_signal=args.reload_signal,
            runtimeinfo_url=args.runtimeinfo_url or None,
            listen_address=args.listen_address or None,
            web_config_file=getattr(args, "web_config_file", "") or None,
            statefulset_ordinal_from_envvar=args.statefulset_ordinal_from_envvar or None,
            strict_env=args.strict_env,
            validate_command=validate,
            max_config_size=args.max_config_size,
            force_polling=args.force_polling,
        )
    except SettingError as exc:
        raise ValueError(exc.describe(flag_of)) from None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "watch",
        help="reload a service when its config files change (prometheus-config-reloader flags)",
        description=(
            "Watch --config-file and --watched-dir directories; when their content changes "
            "(compared by SHA-256, never by counting events), render --config-envsubst-file "
            "atomically and reload the target (POST --reload-url, or a signal). "
            "Same flags as prometheus-config-reloader; durations in Go syntax (0, 500ms, 5s, 3m)."
        ),
    )
    p.refuse_repeats = True  # kingpin's "flag 'config-file' cannot be repeated"
    add_watch_arguments(p, reload_methods=("http", "signal", "command"))
    from config_reloader.cli.client_flags import add_reload_client_arguments
    from config_reloader.cli.parser import add_kingpin_flags

    add_reload_client_arguments(p)
    add_compat_arguments(p)
    add_kingpin_flags(p)
    p.set_defaults(func=run, program=PROGRAM)  # run as prometheus-config-reloader: cli.main sets it


def run(args: argparse.Namespace) -> int:
    from config_reloader.logs import setup_logging

    # Every level on stdout, as prometheus-config-reloader (go-kit/slog on os.Stdout); flag
    # errors stay on stderr (printed, not logged). Set up first: checking the flags may warn.
    setup_logging(args.log_format, args.log_level, sys.stdout)
    try:
        options = watch_options_from_args(args)
    except ValueError as exc:
        return flag_error(args.program, str(exc))
    web_config_file = getattr(args, "web_config_file", "")
    settings = WatchSettings(
        options=options,
        log_format=args.log_format,
        log_level=args.log_level,
        web_config_file=web_config_file,
        program=args.program,
    )
    return start(settings)
