"""The ``watch`` flags without argparse: the one table from settings to flags, and a parser for the
plain command lines prometheus-operator writes.

:func:`flag_of` names the flag of each :class:`~config_reloader.reconcile.options.ReloaderOptions`
field; the argparse parser (:mod:`~config_reloader.cli.watch`) defines those flags and
:func:`parse_plain` reads them by the same names. ``parse_plain`` takes a command line made only of
``--flag=value`` with a flag of :data:`PLAIN_SETTINGS` (or ``--log-level``/``--log-format``) and
every value valid, which is what the operator writes for the init container and the sidecar.
Anything else (``--help``, ``--version``, an error, a bare ``--flag value``, any other flag)
returns ``None`` and the command line goes to argparse, which prints its errors as before; the
values are checked by the same functions argparse's ``type=`` uses. tests/property/test_watch_plain_flags.py
proves both give the same settings for valid command lines.

Why a second reader: argparse with ``gettext``, ``locale`` and the ``shutil`` (with bz2, lzma)
its help formatter loads when ``watch``'s ~40 flags are added costs ~7 ms of CPU, a fifth of the
one-shot render's (docs/benchmarks.md), and at the 10m CPU limit of the operator's reloader slot
each millisecond is 0.1 s of pod start.
"""

from __future__ import annotations

import os

from config_reloader.cli.watchstart import PROGRAM, start
from config_reloader.durations import parse_duration
from config_reloader.listen import parse_listen_address
from config_reloader.logs import LOG_FORMATS, LOG_LEVELS
from config_reloader.reconcile.options import ReloaderOptions
from config_reloader.record import Record, record
from config_reloader.sizes import parse_size

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

__all__ = [
    "DEFAULT_LOG_FORMAT",
    "DEFAULT_LOG_LEVEL",
    "FLAGS_NAMED_OTHERWISE",
    "LOG_LEVEL_ALIASES",
    "PLAIN_SETTINGS",
    "WatchSettings",
    "flag_of",
    "log_level",
    "parse_plain",
    "signal_number",
]

FLAGS_NAMED_OTHERWISE = {"watched_dirs": "--watched-dir", "extra_reload_urls": "--reload-url"}
"""The settings whose flag is not ``--`` + the field name with dashes. The one table from
:class:`~config_reloader.reconcile.options.ReloaderOptions` fields to the flags of ``watch`` and
``run``; their errors name the setting and are spelled with it (:func:`flag_of`)."""


def flag_of(setting: str) -> str:
    """The flag that sets the ``ReloaderOptions`` field ``setting`` (``retry_interval`` ->
    ``--retry-interval``, ``watched_dirs`` -> ``--watched-dir``)."""
    return FLAGS_NAMED_OTHERWISE.get(setting) or "--" + setting.replace("_", "-")


DEFAULT_LOG_FORMAT = "logfmt"
DEFAULT_LOG_LEVEL = "info"
"""The defaults of ``--log-format`` and ``--log-level`` (argparse's parser takes them from here)."""

LOG_LEVEL_ALIASES = {"all": "debug", "warning": "warn"}
"""prometheus-config-reloader's extra ``--log-level`` values -> ours."""


def log_level(text: str) -> str:
    """``--log-level``: ours plus prometheus-config-reloader's ``all`` (= ``debug``) and ``none``
    (nothing is logged, errors included, like go-kit's ``AllowNone``).

    Raises:
        ValueError: not one of the accepted names.
    """
    level = text.strip().lower()
    level = LOG_LEVEL_ALIASES.get(level, level)
    if level not in (*LOG_LEVELS, "none"):
        raise ValueError(f"invalid log level {text!r}: choose one of all, {', '.join(LOG_LEVELS)}, none")
    return level


def signal_number(text: str) -> int:
    """``--reload-signal``: ``SIGHUP``, ``HUP``, ``hup`` or ``1`` -> the signal number.

    Raises:
        ValueError: not a known signal name or number.
    """
    import signal  # its enum conversion costs ~0.4 ms; only --reload-signal needs it

    t = text.strip()
    if t.isdigit():
        num = int(t)
        if 0 < num < signal.NSIG:
            return num
    else:
        name = t.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        if name in signal.Signals.__members__:
            return int(signal.Signals[name])
    raise ValueError(f"unknown signal {text!r}: use a name such as SIGHUP or a number such as 1")


def _path_or_off(text: str) -> str | None:
    return text or None  # as watch_options_from_args: an empty value is "not given"


def _http_url(text: str) -> str:
    # The reload client's own check (the module argparse's ReloadUrlAction calls too).
    from config_reloader.reload.urls import split_credentials

    split_credentials(text)
    return text


def _optional_http_url(text: str) -> str | None:
    return _http_url(text) if text else None


def _listen_address(text: str) -> str | None:
    if text:
        parse_listen_address(text)
    return text or None


def _size(text: str) -> int:
    size = parse_size(text)
    if size < 1:
        raise ValueError(f"must be at least 1 byte, got {text!r}")
    return size


def _directory(text: str) -> str:
    if os.path.exists(text) and not os.path.isdir(text):
        raise ValueError(f"--watched-dir {text!r} is not a directory")
    return text


PLAIN_SETTINGS: dict[str, Callable[[str], Any]] = {
    "config_file": _path_or_off,
    "config_envsubst_file": _path_or_off,
    "watched_dirs": _directory,
    "statefulset_ordinal_from_envvar": _path_or_off,
    "max_config_size": _size,
    "watch_interval": parse_duration,
    "delay_interval": parse_duration,
    "retry_interval": parse_duration,
    "reload_timeout": parse_duration,
    "reload_url": _http_url,
    "runtimeinfo_url": _optional_http_url,
    "listen_address": _listen_address,
    "web_config_file": _path_or_off,
}
"""The settings :func:`parse_plain` reads, by ``ReloaderOptions`` field: the value of
``flag_of(field)`` -> the field's value (raising ``ValueError`` when argparse would refuse it).
``watched_dirs`` and ``reload_url`` are repeatable (every ``--reload-url`` after the first is one
of ``extra_reload_urls``)."""

_REPEATABLE = ("watched_dirs", "reload_url")
_SETTING_OF_FLAG = {flag_of(s): s for s in PLAIN_SETTINGS}


@record
class WatchSettings(Record):
    """What a ``watch`` command line means, whichever parser read it.

    Attributes:
        options: the reload settings.
        log_format: ``"logfmt"`` or ``"json"`` (``--log-format``).
        log_level: ``"debug"``, ``"info"``, ``"warn"``, ``"error"`` or ``"none"`` (``--log-level``).
        web_config_file: ``--web-config-file`` as given (``""``: none), checked at start.
        program: the program's name in its errors (``config-reloader watch``, or
            ``prometheus-config-reloader`` run under that name).
    """

    options: ReloaderOptions
    log_format: str = DEFAULT_LOG_FORMAT
    log_level: str = DEFAULT_LOG_LEVEL
    web_config_file: str = ""
    program: str = PROGRAM

    def func(self, _args: object) -> int:
        """Run ``watch`` with these settings (the CLI's dispatch calls ``args.func(args)``)."""
        return start(self)


def parse_plain(argv: Sequence[str], program: str = PROGRAM) -> WatchSettings | None:
    """The settings of a plain ``watch`` command line, or ``None`` when argparse must read it.

    Args:
        argv: the arguments after ``watch``.
        program: the program's name in later errors (:attr:`WatchSettings.program`).

    Returns:
        The same settings argparse's parser and ``watch_options_from_args`` give, or ``None``: an
        argument that is not ``--flag=value`` of a flag this reads, a value argparse or
        ``ReloaderOptions`` would refuse (argparse then says what is wrong), a flag that is not
        repeatable given twice, or a URL with an ``@`` (credentials, which that path warns about).
    """
    if not argv:
        return None
    values: dict[str, Any] = {}
    log = {"--log-format": DEFAULT_LOG_FORMAT, "--log-level": DEFAULT_LOG_LEVEL}
    seen: set[str] = set()
    for arg in argv:
        flag, eq, text = arg.partition("=")
        if not eq or not flag.startswith("--"):
            return None
        try:
            if flag in log:
                if (flag == "--log-format" and text not in LOG_FORMATS) or flag in seen:
                    return None
                seen.add(flag)
                log[flag] = log_level(text) if flag == "--log-level" else text
                continue
            setting = _SETTING_OF_FLAG.get(flag)
            if setting is None:
                return None
            value = PLAIN_SETTINGS[setting](text)
        except ValueError:
            return None
        if setting in _REPEATABLE:
            values.setdefault(setting, []).append(value)
        elif setting in values:
            return None  # argparse: "flag 'config-file' cannot be repeated" (kingpin's answer)
        else:
            values[setting] = value
    web_config_file = values.get("web_config_file") or ""
    urls = values.pop("reload_url", None)
    if any("@" in u for u in (*(urls or ()), values.get("runtimeinfo_url") or "")):
        return None  # credentials in a URL: argparse's path warns about them (cli.client_flags)
    if urls is not None:
        if len(set(urls)) != len(urls):
            return None  # argparse: "--reload-url ... is given twice"
        values.update(reload_url=urls[0], extra_reload_urls=tuple(urls[1:]))
    if "watched_dirs" in values:
        values["watched_dirs"] = tuple(values["watched_dirs"])
    try:
        options = ReloaderOptions(**values)
    except ValueError:
        return None
    return WatchSettings(
        options=options,
        log_format=log["--log-format"],
        log_level=log["--log-level"],
        web_config_file=web_config_file,
        program=program,
    )
