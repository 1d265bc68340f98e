"""Checking a reload URL and splitting credentials out of it, without the HTTP client.

:func:`split_credentials` is the rule the reload client applies to every URL, and the CLI checks
``--reload-url`` with it at start. It lives apart from :mod:`config_reloader.reload.http` because
importing that client loads asyncio (~50 ms of CPU): the init container's one-shot render parses
``--reload-url`` but sends no request.

A URL without credentials, brackets or non-ASCII text (``http://127.0.0.1:9090/-/reload``) is
checked by :func:`~config_reloader.reload.wire.split_url` alone, which reads such URLs as
:func:`urllib.parse.urlsplit` does (``tests/fuzz/test_fuzz_parsers.py`` compares them); others
go through ``urlsplit``, whose import with :mod:`ipaddress` costs ~11 M instructions before the
sidecar's first reload.
"""

from __future__ import annotations

from binascii import b2a_base64

from ..logs import redact_url
from .wire import split_url

__all__ = ["split_credentials"]


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """Split ``user:pass@`` out of ``url``.

    Returns:
        ``(url_without_credentials, headers)``: ``headers`` holds ``Authorization: Basic ...``
        (RFC 7617, UTF-8) when the URL had credentials, else is empty. Percent-escapes in user and
        password are decoded.

    This is the one check of a reload or runtime-info URL: the CLI runs it on ``--reload-url`` and
    ``--runtimeinfo-url`` (:func:`config_reloader.cli.argtypes.parse_http_url`).

    Raises:
        ValueError: ``url`` is not an ``http``/``https`` URL with a host and a port 0-65535 (or
            none), or holds a space or a control character (a request line cannot carry it; the
            HTTP client would refuse it at every attempt).
    """
    if url.isascii() and not any(c in url for c in "@[]") and not any(c <= " " or c == "\x7f" for c in url):
        try:
            split_url(url)
        except ValueError:
            raise ValueError(f"not an http(s) URL with a host: {redact_url(url)!r}") from None
        return url, {}
    from urllib.parse import unquote, urlsplit, urlunsplit  # only here: see the module docstring

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # ValueError when not a number or not 0-65535
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"not an http(s) URL with a host: {redact_url(url)!r}")
    if any(ch <= " " or ch == "\x7f" for ch in url):
        raise ValueError(
            f"URL holds a space or a control character (percent-encode it, e.g. %20): {redact_url(url)!r}"
        )
    if parts.username is None and parts.password is None:
        bare, headers = url, {}
    else:
        netloc = parts.netloc.rpartition("@")[2]
        bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        headers = {"Authorization": "Basic " + b2a_base64(pair, newline=False).decode("ascii")}
    try:
        split_url(bare)  # the client's own reading agrees (e.g. no text after an IPv6 "]")
    except ValueError:
        raise ValueError(f"not an http(s) URL with a host: {redact_url(url)!r}") from None
    return bare, headers
