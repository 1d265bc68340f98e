"""argparse ``type=`` functions of the ``watch`` and ``run`` flags: each turns the text of one flag
into its value or raises :class:`argparse.ArgumentTypeError` saying what is wrong (argparse then
names the flag). The rules themselves live with their owners (durations, the reload client's URL
check, the listen address parser); these only adapt them to argparse.
"""

from __future__ import annotations

import argparse
import signal

from config_reloader.durations import parse_duration
from config_reloader.listen import parse_listen_address

__all__ = [
    "parse_duration_arg",
    "parse_http_url",
    "parse_listen_address_arg",
    "parse_optional_http_url",
    "parse_signal",
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


def parse_http_url(text: str) -> str:
    """argparse ``type=`` for ``--reload-url``: the reload client's own check of a URL
    (:func:`config_reloader.reload.http.split_credentials`: http/https, a host, a valid port, no
    space or control character).

    Raises:
        argparse.ArgumentTypeError: what is wrong; the message never shows credentials.
    """
    from config_reloader.reload.http import split_credentials

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
