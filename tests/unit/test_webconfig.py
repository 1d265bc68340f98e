"""Parsing and checking of --web-config-file (exporter-toolkit format): what is refused, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from config_reloader.webconfig import WebConfigError, load_web_config

HASH = "$2y$04$" + "a" * 53  # shape of a bcrypt hash (60 chars); never verified here
T = "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"  # prefix of the TLS cases


def load(tmp_path: Path, text: str) -> object:
    f = tmp_path / "web.yml"
    f.write_text(text)
    return load_web_config(str(f))


@pytest.mark.parametrize("text", ["", "# nothing\n", "{}\n", "---\n", "tls_server_config: {}\n"])
def test_settings_free_files_mean_plain_http_without_auth(tmp_path: Path, text: str) -> None:
    cfg = load(tmp_path, text)
    assert cfg.tls is None and not cfg.users and not cfg.headers and cfg.rate_interval == 0  # type: ignore[attr-defined]


def test_users_headers_rate_limit_are_read(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        f"basic_auth_users:\n  alice: {HASH}\nhttp_server_config:\n  http2: true\n  headers:\n"
        "    strict-transport-security: max-age=31536000\n    X-XSS-Protection: ''\n"
        "rate_limit:\n  interval: 500ms\n  burst: 5\n",
    )
    assert cfg.users == {"alice": HASH.encode()}  # type: ignore[attr-defined]
    assert cfg.headers == {"Strict-Transport-Security": "max-age=31536000"}  # type: ignore[attr-defined]
    assert (cfg.rate_interval, cfg.rate_burst) == (0.5, 5)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("basic_auth_user:\n  a: b\n", "unknown field"),
        ("tls_server_config:\n  cert_fil: x\n", "unknown field"),
        ("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "not supported"),
        ("tls_server_config:\n  curve_preferences: [X25519]\n", "not supported"),
        ("tls_server_config:\n  cert_file: a.crt\n", "missing key_file"),
        (T + "  client_auth_type: RequestClientCert\n",
         "without verifying"),
        (T + "  client_auth_type: Bogus\n", "unknown value"),
        (T + "  client_ca_file: ca.crt\n",
         "without a client_auth_type"),
        (T + "  client_auth_type: RequireAndVerifyClientCert\n",
         "needs client_ca_file"),
        (T + "  min_version: TLS14\n", "unknown version"),
        (T + "  min_version: TLS13\n  max_version: TLS12\n",
         "above max_version"),
        ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n", "cannot load the server"),
        ("basic_auth_users:\n  alice: plaintext\n", "not a bcrypt hash"),
        ("http_server_config:\n  headers:\n    Server: nginx\n", "may not be set"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "deny or sameorigin"),
        ("rate_limit:\n  interval: 1s\n", "burst must be >= 1"),
        ("rate_limit:\n  interval: soon\n  burst: 1\n", "rate_limit.interval"),
        ("tls_server_config: [a]\n", "must be a mapping"),
        ("a: [\n", "invalid YAML"),
    ],
)  # fmt: skip
def test_mistakes_and_unsupported_settings_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(WebConfigError, match=message) as exc:
        load(tmp_path, text)
    assert str(tmp_path / "web.yml") in str(exc.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match="cannot read"):
        load_web_config(str(tmp_path / "nope.yml"))
    with pytest.raises(ValueError):  # WebConfigError is a ValueError (the CLI exits 2)
        load_web_config(str(tmp_path / "nope.yml"))
