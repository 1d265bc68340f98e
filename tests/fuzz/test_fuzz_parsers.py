"""Fuzz the flag-value parsers: durations, sizes, URLs (reload URL, redaction), listen addresses,
RFC 3339 timestamps. Each returns a value or raises its documented error, never anything else;
redaction never raises and never shows a password."""

from __future__ import annotations

import argparse
import base64
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest
from fuzz_budget import fuzz, tried
from hypothesis import given
from hypothesis import strategies as st

from config_reloader.cli.watch import parse_duration_arg, parse_http_url, parse_listen_address_arg
from config_reloader.durations import parse_duration
from config_reloader.logs import redact_text, redact_url
from config_reloader.reload.http import split_credentials
from config_reloader.reload.verify import parse_rfc3339_ns
from config_reloader.reload.wire import split_url
from config_reloader.sizes import format_size, parse_size

_DURATION_PARTS = st.lists(
    st.tuples(
        st.sampled_from(["0", "1", "1.5", ".5", "5.", "007", "99999999999999999999", "-1", "+2", "", "1e3"]),
        st.sampled_from(["ns", "us", "µs", "μs", "ms", "s", "m", "h", "", "d", "S", " "]),
    ),
    max_size=4,
).map(lambda parts: "".join(n + u for n, u in parts))


@fuzz()
@given(text=st.one_of(st.text(max_size=30), _DURATION_PARTS))
def test_duration(text: str) -> None:
    tried("parse_duration")
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        assert repr(text)[1:-1][:20] in str(exc) or len(text) > 20 or text == ""
        try:
            parse_duration_arg(text)
        except argparse.ArgumentTypeError:
            return
        raise AssertionError("parse_duration_arg accepted what parse_duration refused") from None
    assert seconds >= 0 and seconds == seconds  # not NaN


@fuzz()
@given(
    text=st.one_of(
        st.text(max_size=20), st.from_regex(r"\s?\d{0,20}\s?[kKmMgGtT]?[iI]?[bB]?\s?", fullmatch=True)
    )
)
def test_size(text: str) -> None:
    tried("parse_size")
    try:
        n = parse_size(text)
    except ValueError:
        return
    assert n >= 0
    assert parse_size(format_size(n)) == n


_URL = st.builds(
    lambda scheme, user, pw, host, port, path, query, frag: (
        f"{scheme}{user}{pw}{host}{port}{path}{query}{frag}"
    ),
    st.sampled_from(["http://", "https://", "ftp://", "", "HTTP://", "http:/", "http:///"]),
    st.sampled_from(["", "admin", "u%40x", "a b", "@"]),
    st.sampled_from(["", ":S3cretPassw0rd@", ":pa/ss@", ":p?w@", ":p#w@", "@"]),
    st.sampled_from(["127.0.0.1", "[::1]", "[::1", "localhost", "", "exa mple", "ho\x00st", "é.example"]),
    st.sampled_from(["", ":9090", ":0", ":65536", ":-1", ":x", ":"]),
    st.sampled_from(["", "/-/reload", "/a b", "/%zz", "/\n"]),
    st.sampled_from(["", "?token=S3cretPassw0rd", "?a&b=", "?;x=1"]),
    st.sampled_from(["", "#frag", "#access_token=S3cretPassw0rd"]),
)


# URLs that take split_credentials' and redact_url's path without urllib: ASCII, no @ [ ].
_ASCII_URL = st.builds(
    lambda scheme, rest: scheme + rest,
    st.sampled_from(["http://", "https://", "HTTP://", "http:/", "ftp://", "http:", ""]),
    st.text(st.sampled_from("az09.:/?#%-_~+;=&! \t\x7f"), max_size=25),
)


def _split_credentials_urllib(url: str) -> tuple[str, dict[str, str]]:
    """split_credentials as it was with urllib.parse for every URL: the reference."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port
    except ValueError:
        ok = False
    if not ok or any(ch <= " " or ch == "\x7f" for ch in url):
        raise ValueError(url)
    if parts.username is None and parts.password is None:
        bare, headers = url, {}
    else:
        netloc = parts.netloc.rpartition("@")[2]
        bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    split_url(bare)
    return bare, headers


@fuzz()
@given(url=st.one_of(_URL, _ASCII_URL, st.text(max_size=60)))
def test_reload_url(url: str) -> None:
    tried("reload URL")
    assert "S3cretPassw0rd" not in redact_url(url)
    if url.isascii() and not any(c in url for c in "@?#[]"):
        # redact_url returns such a URL as it is without urllib: urllib reads nothing to mask
        assert redact_url(url) == url
        parts = urlsplit(url)
        assert "@" not in parts.netloc and not parts.query and not parts.fragment
    try:
        parse_http_url(url)
    except argparse.ArgumentTypeError as exc:
        assert "S3cretPassw0rd" not in str(exc)
    else:  # an accepted URL may appear in any error text later: masked there too
        assert "S3cretPassw0rd" not in redact_text(f"error talking to {url}: refused")
    try:
        bare, headers = split_credentials(url)
    except ValueError as exc:
        assert "S3cretPassw0rd" not in str(exc)
        with pytest.raises(ValueError):  # the urllib-only reading refuses it too
            _split_credentials_urllib(url)
        return
    assert (bare, headers) == _split_credentials_urllib(url)
    assert "@" not in bare.partition("//")[2].partition("/")[0] or not headers
    # the HTTP client's own reading of an accepted URL is urllib's
    https, host, port, _host_header, target = split_url(bare)
    parts = urlsplit(bare)
    assert (https, host.lower(), port) == (
        parts.scheme == "https",
        parts.hostname,
        parts.port if parts.port is not None else (443 if https else 80),
    )
    assert target == (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@fuzz()
@given(
    text=st.one_of(
        st.text(max_size=30),
        st.builds(
            lambda h, p: f"{h}:{p}",
            st.sampled_from(
                ["", "127.0.0.1", "[::1]", "::1", "[::1", "localhost", "a..b", "-x", "1.2.3.4.5"]
            ),
            st.text("0123456789²٣", max_size=6),
        ),
    )
)
def test_listen_address(text: str) -> None:
    tried("listen address")
    try:
        parsed = parse_listen_address_arg(text)
    except argparse.ArgumentTypeError:
        return
    if parsed:
        port = parsed.rpartition(":")[2]
        assert port.isascii() and 0 <= int(port) <= 65535


@fuzz()
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,12})?(Z|[+-]\d\d:\d\d)", fullmatch=True),
    )
)
def test_rfc3339(text: str) -> None:
    tried("parse_rfc3339_ns")
    try:
        parse_rfc3339_ns(text)
    except ValueError:
        pass
