"""The one check of a reload / runtime-info URL (reload/http.py split_credentials), which the CLI's
``--reload-url`` and ``--runtimeinfo-url`` use as they are."""

from __future__ import annotations

import pytest

from config_reloader.reload.http import split_credentials


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/-/reload",
        "http:///-/reload",
        "http://h:99999/-/reload",
        "http://h:port/-/reload",
        "http://[::1/",
    ],
)
def test_bad_urls_are_refused_by_the_reload_client_itself(url: str) -> None:
    with pytest.raises(ValueError, match="not an http\\(s\\) URL with a host"):
        split_credentials(url)


def test_credentials_become_a_basic_auth_header_and_never_show() -> None:
    bare, headers = split_credentials("https://u%40x:p%3Aw@h:9090/-/reload")
    assert bare == "https://h:9090/-/reload"
    assert headers == {"Authorization": "Basic dUB4OnA6dw=="}
    with pytest.raises(ValueError) as exc:
        split_credentials("http://u:s3cret@h:99999/")
    assert "s3cret" not in str(exc.value)
