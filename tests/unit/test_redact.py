"""config_reloader.logs.redact_url: what a logged URL may still show."""

from __future__ import annotations

import argparse

import pytest

from config_reloader.cli.watch import parse_http_url
from config_reloader.logs import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # query values masked, names kept
        ("http://127.0.0.1:9090/-/reload?token=s3cret", "http://127.0.0.1:9090/-/reload?token=***"),
        ("http://h/r?a=1&token=s3cret", "http://h/r?a=***&token=***"),
        ("http://h/r?token=abc==", "http://h/r?token=***"),  # base64 padding stays in the value
        ("http://h/r?token=&debug", "http://h/r?token=&debug"),  # nothing to hide
        ("http://h/r?a=1;token=s3cret", "http://h/r?a=***"),  # ';' is not a separator: one value
        # fragments: kept apart from the query; name=value pairs masked
        ("http://h/r?token=s3cret#top", "http://h/r?token=***#top"),
        ("http://h/r#access_token=s3cret&x=", "http://h/r#access_token=***&x="),
        ("http://h/r#section", "http://h/r#section"),
        # credentials
        ("http://u:s3cret@h:9090/-/reload", "http://***@h:9090/-/reload"),
        ("http://u@h/-/reload", "http://***@h/-/reload"),
        ("http://u:p@ss:s3cret@h/", "http://***@h/"),  # the last @ ends the userinfo
        ("https://u:s3cret@h/r?token=s3cret#k=s3cret", "https://***@h/r?token=***#k=***"),
        # the host is kept as written
        ("http://u:s3cret@[::1]:9090/-/reload", "http://***@[::1]:9090/-/reload"),
        ("http://u:s3cret@Prom.Example:9090/", "http://***@Prom.Example:9090/"),
        ("http://u:s3cret@h:99999/-/reload", "http://***@h:99999/-/reload"),  # bad port: no raise
        # a password with an unescaped / ? or # cut the authority short: show nothing
        ("http://u:s3/cret@h/-/reload", "<unparsable url>"),
        ("http://u:s3?cret@h/-/reload", "<unparsable url>"),
        ("http://u:s3#cret@h/-/reload", "<unparsable url>"),
        ("http://[::1/-/reload?token=s3cret", "<unparsable url>"),
    ],
)
def test_redact_url_masks_credentials_and_query_values(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9090/-/reload",
        "https://prom.example:9443/api/v1/status/runtimeinfo",
        "http://[::1]:9090/-/reload",
        "http://h:9090/users/@me",
        "http://h/r?",
        "http://h/r?debug",
        "notaurl",
        "",
    ],
)
def test_redact_url_keeps_urls_without_secrets_unchanged(url: str) -> None:
    assert redact_url(url) is url


def test_rejected_reload_url_flag_never_shows_the_password() -> None:
    """An out-of-range port made redact_url raise inside argparse's type=, and argparse then
    printed the raw value, password included."""
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_http_url("http://admin:s3cret@h:99999/-/reload?token=s3cret")
    assert "s3cret" not in str(info.value)
    assert "h:99999" in str(info.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "reload http://127.0.0.1:9/-/reload?token=s3cret: connection refused",
            "reload http://127.0.0.1:9/-/reload?token=***: connection refused",
        ),
        ("POST https://u:pw@h:1/p?a=1&b=2.", "POST https://***@h:1/p?a=***&b=***."),
        ("ftp://u:p@h/x failed (http://h/x?y=1)", "ftp://***@h/x failed (http://h/x?y=***)"),
        ("no url here: 500 Internal Server Error", "no url here: 500 Internal Server Error"),
    ],
)
def test_redact_text_masks_urls_inside_error_messages(text: str, shown: str) -> None:
    """Reload errors quote URLs anywhere in their text: credentials and query values are masked
    there too, and the punctuation after a URL stays where it was."""
    assert redact_text(text) == shown


def test_redact_values_masks_raw_and_quoted_values_but_not_short_ones() -> None:
    from config_reloader.logs import redact_values

    text = 'password "TopSecretPW123" at line 10, ordinal 0; user ad\\"min at http://127.0.0.1:9090/'
    out = redact_values(text, ["TopSecretPW123", "0", 'ad"min', ""])
    assert "TopSecretPW123" not in out and 'ad\\"min' not in out
    # SHARD=0 (prometheus-operator's): no secret, and the address stays readable
    assert "line 10" in out and "ordinal 0" in out and "http://127.0.0.1:9090/" in out
    assert redact_values(text, []) == text
    assert redact_values("abcdef", ["abcd", "abcdef"]) == "***"  # the longer value first


def test_redact_url_without_an_authority_masks_what_precedes_the_at_sign() -> None:
    from config_reloader.logs import redact_url

    assert redact_url("admin:pw@localhost:9090/-/reload") == "admin:***@localhost:9090/-/reload"
    assert redact_url(":pw@127.0.0.1") == "***@127.0.0.1"
    assert redact_url("x@y?token=z") == "***@y?token=***"
