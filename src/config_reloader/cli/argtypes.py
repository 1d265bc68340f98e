"""argparse ``type=`` functions and actions of the ``watch`` and ``run`` flags: each turns the text
of one flag into its value or raises :class:`argparse.ArgumentTypeError` saying what is wrong
(argparse then names the flag); the actions handle the repeatable ``--reload-url`` and
``--watch-ignore``. The rules themselves live with their owners (durations, the reload client's URL
check, the listen address parser); these only adapt them to argparse.
"""

from __future__ import annotations

import argparse

from config_reloader.cli.watchflags import LOG_LEVEL_ALIASES, log_level, signal_number
from config_reloader.durations import parse_duration
from config_reloader.listen import parse_listen_address
from config_reloader.sizes import parse_size

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LOG_LEVEL_ALIASES",
    "ReloadUrlAction",
    "UrlAction",
    "WatchIgnoreAction",
    "parse_duration_arg",
    "parse_http_url",
    "parse_listen_address_arg",
    "parse_log_level",
    "parse_optional_http_url",
    "parse_signal",
    "parse_size_arg",
]


def parse_duration_arg(text: str) -> float:
    """argparse ``type=`` for Go durations (``0``, ``500ms``, ``5s``, ``3m``, ``1h30m``) -> seconds.

    Raises:
        argparse.ArgumentTypeError: not a valid duration (the message says why).
    """
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_size_arg(text: str) -> int:
    """argparse ``type=`` for ``--max-config-size``: ``32MiB``, ``512KiB``, ``1GiB`` or bytes (>= 1).

    Raises:
        argparse.ArgumentTypeError: not such a size, or 0.
    """
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text!r}")
    return size


def parse_http_url(text: str) -> str:
    """argparse ``type=`` for ``--reload-url``: the reload client's own check of a URL
    (:func:`config_reloader.reload.http.split_credentials`: http/https, a host, a valid port, no
    space or control character).

    Raises:
        argparse.ArgumentTypeError: what is wrong; the message never shows credentials.
    """
    from config_reloader.reload.urls import split_credentials  # not .http: see that module

    try:
        split_credentials(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
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
    """``SIGHUP``, ``HUP``, ``hup`` or ``1`` -> the signal number
    (:func:`~config_reloader.cli.watchflags.signal_number`).

    Raises:
        argparse.ArgumentTypeError: not a known signal name or number.
    """
    try:
        return signal_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _UrlAction(argparse.Action):
    """A URL flag, checked by :func:`parse_http_url` when given on the command line.

    The check is here rather than ``type=``: argparse also runs ``type=`` on a string default,
    and checking the defaults (valid by construction) would load ``urllib.parse`` and the
    reload package with ``typing`` (~6 ms of CPU) on the init container's path, which sends no request.
    """

    optional = False
    """An empty value is accepted (= off)."""

    def _checked(self, values: Any) -> str:
        check = parse_optional_http_url if self.optional else parse_http_url
        try:
            return check(str(values))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None


class UrlAction(_UrlAction):
    """``--runtimeinfo-url URL`` (empty = off): stored once checked."""

    optional = True

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, self._checked(values))


class ReloadUrlAction(_UrlAction):
    """``--reload-url URL`` (repeatable): ``reload_url`` keeps the first, ``reload_urls`` all of
    them (the default is replaced, not added to)."""

    repeatable = True
    """Given again, it adds a target (:attr:`config_reloader.cli.parser.CliParser.refuse_repeats`)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        values = self._checked(values)
        urls = list(getattr(namespace, "reload_urls", None) or [])
        if str(values) in urls:
            parser.error(f"argument --reload-url: {values!r} is given twice")
        urls.append(str(values))
        namespace.reload_urls = urls
        namespace.reload_url = urls[0]


class WatchIgnoreAction(argparse.Action):
    """``--watch-ignore GLOB`` (repeatable): starts from the defaults; ``--watch-ignore=`` clears."""

    repeatable = True
    """Given again, it adds a glob (:attr:`config_reloader.cli.parser.CliParser.refuse_repeats`)."""

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
    """argparse ``type=`` for ``--log-level`` (:func:`~config_reloader.cli.watchflags.log_level`:
    ours plus prometheus-config-reloader's ``all`` and ``none``).

    Raises:
        argparse.ArgumentTypeError: not one of the accepted names.
    """
    try:
        return log_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
