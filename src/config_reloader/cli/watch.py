"""``config-reloader watch``: a drop-in for prometheus-operator's ``prometheus-config-reloader``.

Flags keep that program's names, defaults and meaning (research reloader-anchors §2.1; kingpin
accepts both ``--flag=value`` and ``--flag value``, so does argparse). Durations are Go durations
(``0``, ``500ms``, ``5s``, ``3m``). Ours: ``--validate-command``, ``--reload-signal``,
``--pid-file``, ``--strict-env``, ``--force-polling``.

Exit statuses: 2 on bad flags; otherwise those of
:func:`config_reloader.reconcile.service.run_watch`, which runs the engine (0 on SIGTERM/SIGINT or
after ``--watch-interval=0`` rendered the output; 1 when rendering fails in init mode or the loop
dies).

``add_watch_arguments`` and ``watch_options_from_args`` are reused by ``config-reloader run``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Sequence

from config_reloader.durations import parse_duration
from config_reloader.listen import parse_listen_address
from config_reloader.logs import LOG_FORMATS, LOG_LEVELS

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Any

    from config_reloader.reconcile.options import ReloaderOptions

__all__ = [
    "add_compat_arguments",
    "add_watch_arguments",
    "check_web_config_file",
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

DEFAULT_RELOAD_URL = "http://127.0.0.1:9090/-/reload"
DEFAULT_RUNTIMEINFO_URL = "http://127.0.0.1:9090/api/v1/status/runtimeinfo"


def parse_duration_arg(text: str) -> float:
    """argparse ``type=`` for Go durations (``0``, ``500ms``, ``5s``, ``3m``, ``1h30m``) -> seconds.

    Raises:
        argparse.ArgumentTypeError: not a valid duration (the message says why).
    """
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_http_url(text: str) -> str:
    """argparse ``type=`` for ``--reload-url``: an ``http``/``https`` URL with a host (the rule of
    :func:`config_reloader.reload.http.split_credentials`, checked without importing the client).

    Raises:
        argparse.ArgumentTypeError: another scheme, no host, or a bad port; the message never shows
            credentials.
    """
    from urllib.parse import urlsplit

    from config_reloader.logs import redact_url

    try:
        parts = urlsplit(text)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # ValueError when not 0-65535 or not a number
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"not an http(s) URL with a host: {redact_url(text)!r}")
    # The reload client's other check (config_reloader.reload.http.split_credentials), repeated
    # here: importing the client for it would load asyncio, http.client and ssl (~40 ms CPU) on
    # the init container's path, which sends no request.
    if any(ch <= " " or ch == "\x7f" for ch in text):
        raise argparse.ArgumentTypeError(
            f"URL holds a space or a control character (percent-encode it, e.g. %20): {redact_url(text)!r}"
        )
    return text


def parse_optional_http_url(text: str) -> str:
    """argparse ``type=`` for ``--runtimeinfo-url``: empty (= off) or as :func:`parse_http_url`."""
    return text if text == "" else parse_http_url(text)


def parse_listen_address_arg(text: str) -> str:
    """argparse ``type=`` for ``--listen-address``: empty (= off) or an address
    :func:`config_reloader.listen.parse_listen_address` accepts.

    Raises:
        argparse.ArgumentTypeError: what is wrong, with the value.
    """
    if text != "":
        try:
            parse_listen_address(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def parse_signal(text: str) -> int:
    """``SIGHUP``, ``HUP``, ``hup`` or ``1`` -> the signal number.

    Raises:
        argparse.ArgumentTypeError: not a known signal name or number.
    """
    t = text.strip()
    if t.isdigit():
        num = int(t)
        if 0 < num < signal.NSIG:
            return num
    else:
        name = t.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
        if sig is not None:
            return int(sig)
    raise argparse.ArgumentTypeError(
        f"unknown signal {text!r}: use a name such as SIGHUP or a number such as 1"
    )


def add_watch_arguments(
    parser: argparse.ArgumentParser,
    *,
    default_reload_method: str = "http",
    reload_methods: tuple[str, ...] = ("http", "signal"),
) -> None:
    """Add the prometheus-config-reloader flags (and ours) to ``parser``.

    Args:
        parser: the (sub)parser.
        default_reload_method: ``"http"`` for ``watch``; ``run`` passes its own.
        reload_methods: accepted values of ``--reload-method``.
    """
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
        default="POD_NAME",
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

    t = parser.add_argument_group("timing")
    t.add_argument(
        "--watch-interval",
        metavar="DURATION",
        type=parse_duration_arg,
        default=180.0,
        help="full resync period even without events; 0 = render once, no reload, exit 0 "
        "(init container mode) (default: 3m)",
    )
    t.add_argument(
        "--delay-interval",
        metavar="DURATION",
        type=parse_duration_arg,
        default=1.0,
        help="quiet period after the last change before applying (debounce); 0 = at once "
        "(in-place writes still wait for the writer to close the file) (default: 1s)",
    )
    t.add_argument(
        "--retry-interval",
        metavar="DURATION",
        type=parse_duration_arg,
        default=5.0,
        help="first wait between failed reload attempts, then doubling with jitter, "
        "capped at 1m (default: 5s)",
    )
    t.add_argument(
        "--reload-timeout",
        metavar="DURATION",
        type=parse_duration_arg,
        default=30.0,
        help="bound of one reload attempt; a timeout backs off, never re-sends at once (default: 30s)",
    )
    from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS

    t.add_argument(
        "--watch-ignore",
        metavar="GLOB",
        action=_WatchIgnoreAction,
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
        choices=reload_methods,
        default=default_reload_method,
        help="http = POST --reload-url; signal = send --reload-signal to the process; command = run "
        "--reload-command (default: %(default)s)",
    )
    r.add_argument(
        "--reload-url",
        metavar="URL",
        type=parse_http_url,
        action=_ReloadUrlAction,
        default=DEFAULT_RELOAD_URL,
        help="URL POSTed to reload in http mode; success only on 200. Repeatable: several targets, "
        "applied when all answered 200, each retried on its own (default: %(default)s)",
    )
    r.add_argument(
        "--process-executable-name",
        metavar="NAME",
        default="prometheus",
        help="signal mode: the process to signal, by executable name (default: %(default)s)",
    )
    r.add_argument(
        "--process-match",
        choices=("oldest", "all", "single"),
        default="oldest",
        help="signal mode, several processes with that name: signal the oldest, all of them, or "
        "none (single: an error) (default: %(default)s)",
    )
    r.add_argument(
        "--pid-file",
        metavar="PATH",
        help="signal mode: read the pid to signal from this file (instead of the name)",
    )
    r.add_argument(
        "--reload-signal",
        metavar="SIGNAL",
        type=parse_signal,
        default=int(signal.SIGHUP),
        help="signal mode: signal to send, name or number (default: SIGHUP)",
    )
    r.add_argument(
        "--runtimeinfo-url",
        metavar="URL",
        type=parse_optional_http_url,
        default=DEFAULT_RUNTIMEINFO_URL,
        help="signal mode: the signal is held back until this answers and the reload is "
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
        "--log-format", choices=LOG_FORMATS, default="logfmt", help="log format (default: %(default)s)"
    )
    o.add_argument(
        "--log-level",
        metavar="{all,debug,info,warn,error,none}",
        type=parse_log_level,
        default="info",
        help="log level; all = debug, none = nothing at all, as prometheus-config-reloader (default: info)",
    )


class _ReloadUrlAction(argparse.Action):
    """``--reload-url URL`` (repeatable): ``reload_url`` keeps the first, ``reload_urls`` all of
    them (the default is replaced, not added to)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        urls = list(getattr(namespace, "reload_urls", None) or [])
        if str(values) in urls:
            parser.error(f"argument --reload-url: {values!r} is given twice")
        urls.append(str(values))
        namespace.reload_urls = urls
        namespace.reload_url = urls[0]


class _WatchIgnoreAction(argparse.Action):
    """``--watch-ignore GLOB`` (repeatable): starts from the defaults; ``--watch-ignore=`` clears."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS

        current = getattr(namespace, self.dest, None)
        globs = list(DEFAULT_IGNORE_GLOBS) if current is None else list(current)
        text = str(values)
        if text == "":
            globs = []
        elif "/" in text:
            parser.error(f"argument --watch-ignore: {text!r} has a '/': globs match base names only")
        else:
            globs.append(text)
        setattr(namespace, self.dest, globs)


def parse_log_level(text: str) -> str:
    """argparse ``type=`` for ``--log-level``: ours plus prometheus-config-reloader's ``all``
    (= ``debug``) and ``none`` (nothing is logged, errors included, like go-kit's ``AllowNone``;
    the exit status and ``/metrics`` still tell).

    Raises:
        argparse.ArgumentTypeError: not one of the accepted names.
    """
    level = text.strip().lower()
    level = LOG_LEVEL_ALIASES.get(level, level)
    if level not in (*LOG_LEVELS, "none"):
        raise argparse.ArgumentTypeError(
            f"invalid log level {text!r}: choose one of all, {', '.join(LOG_LEVELS)}, none"
        )
    return level


LOG_LEVEL_ALIASES = {"all": "debug", "warning": "warn"}
"""prometheus-config-reloader's extra ``--log-level`` values -> ours."""


class _PrintVersion(argparse.Action):
    """``--version`` / ``--short-version``: print and exit 0 (prometheus-config-reloader flags)."""

    def __init__(self, option_strings: list[str], dest: str, short: bool = False, **kw: Any) -> None:
        kw.setdefault("help", "print just the version and exit" if short else "print the version and exit")
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS, **kw)
        self.short = short

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kw: Any) -> None:
        from config_reloader.version import version_text

        v = version_text()
        print(v if self.short else f"config-reloader {v}")
        parser.exit()


def add_compat_arguments(parser: argparse.ArgumentParser) -> None:
    """prometheus-config-reloader flags that do not map to an option of ours (research
    reloader-anchors §2.1): ``--version``, ``--short-version``, ``--auto-gomemlimit-ratio``
    (accepted, no effect) and ``--web-config-file`` (checked at start by
    :func:`check_web_config_file`)."""
    c = parser.add_argument_group("prometheus-config-reloader compatibility")
    c.add_argument("--version", action=_PrintVersion)
    c.add_argument("--short-version", action=_PrintVersion, short=True)
    c.add_argument(
        "--auto-gomemlimit-ratio",
        metavar="RATIO",
        type=float,
        default=0.0,
        help="accepted for compatibility and ignored: it sets Go's GOMEMLIMIT, "
        "there is no such limit in Python",
    )
    c.add_argument(
        "--web-config-file",
        metavar="PATH",
        default="",
        help="exporter-toolkit web config for the status server: TLS (cert_file, key_file, "
        "client_auth_type, client_ca_file, client_allowed_sans, min/max_version), "
        "basic_auth_users (bcrypt), headers, rate_limit; errors exit 2 at start",
    )


def check_web_config_file(path: str) -> None:
    """Load ``--web-config-file`` once at start so that a mistake exits 2 with a clear message
    (prometheus-config-reloader validates it at start too). Empty path = no web config.

    Raises:
        ValueError: (:class:`~config_reloader.webconfig.WebConfigError`) unreadable file, invalid
            YAML, unknown or unsupported field, or a certificate/key that does not load.
    """
    if not path:
        return
    from config_reloader.webconfig import load_web_config

    load_web_config(path)


def watch_options_from_args(args: argparse.Namespace) -> ReloaderOptions:
    """Build :class:`~config_reloader.reconcile.options.ReloaderOptions` from parsed watch flags.

    Raises:
        ValueError: inconsistent flags (the message names the flag).
    """
    from config_reloader.reconcile.options import ReloaderOptions

    validate: tuple[str, ...] | None = None
    if args.validate_command:
        try:
            validate = tuple(shlex.split(args.validate_command))
        except ValueError as exc:
            raise ValueError(f"--validate-command: cannot split {args.validate_command!r}: {exc}") from None
        if not validate:
            raise ValueError("--validate-command is empty")
    if args.config_envsubst_file and not args.config_file:
        raise ValueError("--config-envsubst-file needs --config-file (the input to render)")
    if args.config_envsubst_file and _same_file(args.config_file, args.config_envsubst_file):
        raise ValueError(
            f"--config-file {args.config_file!r} and --config-envsubst-file "
            f"{args.config_envsubst_file!r} are the same file: the output would overwrite its template"
        )
    for d in args.watched_dir:
        if os.path.exists(d) and not os.path.isdir(d):
            raise ValueError(f"--watched-dir {d!r} is not a directory")
    method = args.reload_method
    extra: dict[str, Any] = {}
    ignore = getattr(args, "watch_ignore", None)
    if ignore is not None:
        extra["watch_ignore"] = tuple(ignore)
    urls = list(getattr(args, "reload_urls", None) or [args.reload_url])
    if hasattr(args, "reload_command"):  # watch's reload-client flags (not on run's parser)
        from config_reloader.cli.client_flags import client_config_from_args, reload_command_from_args

        command = reload_command_from_args(args)
        if command is not None:
            if method == "signal":
                raise ValueError("--reload-command and --reload-method=signal exclude each other")
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
            process_executable_name=args.process_executable_name,
            process_match=args.process_match,
            pid_file=args.pid_file or None,
            reload_signal=args.reload_signal,
            runtimeinfo_url=args.runtimeinfo_url or None,
            listen_address=args.listen_address or None,
            web_config_file=getattr(args, "web_config_file", "") or None,
            statefulset_ordinal_from_envvar=args.statefulset_ordinal_from_envvar or None,
            strict_env=args.strict_env,
            validate_command=validate,
            force_polling=args.force_polling,
        )
    except ValueError as exc:
        # ReloaderOptions names fields; users know flags.
        msg = str(exc)
        for field in ("retry_interval", "reload_timeout", "watch_interval", "delay_interval"):
            msg = msg.replace(f"ReloaderOptions.{field}", "--" + field.replace("_", "-"))
        raise ValueError(msg) from None


def _same_file(a: str, b: str) -> bool:
    """The same file by real path (symlinks resolved), or by inode when both exist (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet)
        return False


def warn_missing_watched_dirs(dirs: Sequence[str]) -> None:
    """Log one WARNING per ``--watched-dir`` that does not exist (yet): it is watched from its
    parent and picked up when it appears, but a typo would otherwise go unnoticed."""
    import logging

    log = logging.getLogger("config_reloader.cli.watch")
    for d in dirs:
        if not os.path.exists(d):
            log.warning(
                "watched dir does not exist yet; will be picked up when it appears",
                extra={"flag": "--watched-dir", "dir": d},
            )


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
    add_watch_arguments(p, reload_methods=("http", "signal", "command"))
    from config_reloader.cli.client_flags import add_reload_client_arguments
    from config_reloader.cli.parser import add_kingpin_flags

    add_reload_client_arguments(p)
    add_compat_arguments(p)
    add_kingpin_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from config_reloader.logs import setup_logging

    # Every level on stdout, as prometheus-config-reloader (go-kit/slog on os.Stdout); flag
    # errors stay on stderr (printed, not logged). Set up first: checking the flags may warn.
    setup_logging(args.log_format, args.log_level, sys.stdout)
    try:
        options = watch_options_from_args(args)
    except ValueError as exc:
        print(f"config-reloader watch: error: {exc}", file=sys.stderr)
        return 2
    if options.config_file is None and not options.watched_dirs:
        print(
            "config-reloader watch: error: nothing to watch: give --config-file and/or --watched-dir",
            file=sys.stderr,
        )
        return 2
    try:
        check_web_config_file(getattr(args, "web_config_file", ""))
    except ValueError as exc:
        print(f"config-reloader watch: error: {exc}", file=sys.stderr)
        return 2
    warn_missing_watched_dirs(options.watched_dirs)
    if not options.reloads_enabled:
        # The init container's path: one synchronous render, no event loop, metrics or HTTP
        # (config_reloader.reconcile.once says why).
        from config_reloader.reconcile.once import run_once

        return run_once(options)
    if not any(u and u.lower().startswith("https:") for u in (options.reload_url, options.runtimeinfo_url)):
        from config_reloader.lean import forgo_ssl

        forgo_ssl()  # before asyncio and the HTTP client load: config_reloader.lean says why
    import asyncio
    import gc

    from config_reloader.reconcile.service import run_watch

    if not gc.isenabled():  # turned off for start-up by config_reloader.cli._defer_collection
        gc.freeze()  # start-up objects live as long as the process: never scan them again
        gc.enable()
    return asyncio.run(run_watch(options))
