"""``--web-config-file``: TLS, basic auth, headers and rate limit for the status server.

The file format is the Prometheus exporter-toolkit web configuration (prometheus/exporter-toolkit
docs/web-configuration.md), the one prometheus-config-reloader reads with the same flag:

* ``tls_server_config``: ``cert_file``/``key_file`` (or inline ``cert``/``key``),
  ``client_auth_type`` (``NoClientCert`` default, ``VerifyClientCertIfGiven``,
  ``RequireAndVerifyClientCert``), ``client_ca_file`` (or inline ``client_ca``),
  ``client_allowed_sans``, ``min_version``/``max_version`` (``TLS10``..``TLS13``; default
  ``TLS12``..``TLS13``), ``prefer_server_cipher_suites``;
* ``http_server_config``: ``headers`` (the five security headers the toolkit allows),
  ``http2`` (accepted; the status server speaks HTTP/1.1 only);
* ``basic_auth_users``: user -> bcrypt hash (``$2a$``/``$2b$``/``$2y$``);
* ``rate_limit``: ``interval`` (Go duration between requests, 0 = off) and ``burst``.

Refused with a clear error instead of being half-honoured: ``cipher_suites`` and
``curve_preferences`` (Go names that do not map onto OpenSSL's), and the client-auth types that
accept certificates without verifying them (``RequestClientCert``, ``RequireAnyClientCert``).
Unknown keys are errors, as in the toolkit's strict YAML decoding. Relative file names are
resolved against the directory of the web config file.

What is re-read while running: certificate, key and client CA files when they change (checked at
each TLS handshake, so a rotated certificate is served without a restart), and the web config
file itself at each request for users, headers and rate limit; a file that became invalid is
logged once and the previous settings stay. A change of the TLS policy itself (turning TLS on or
off, client auth, versions) needs a restart.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from config_reloader.bounded_read import FileTooLarge, NotRegularFile, read_stable

if TYPE_CHECKING:
    import ssl

__all__ = [
    "WEB_CONFIG_LIMIT",
    "TlsSettings",
    "WebConfig",
    "WebConfigError",
    "build_server_context",
    "load_web_config",
]

WEB_CONFIG_LIMIT = 4 << 20
"""Bytes a web config file may hold (a real one is a few hundred bytes; thousands of bcrypt users
fit in well under 1 MiB)."""


_TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}
_TLS_KEYS = {
    "cert",
    "key",
    "client_ca",
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "client_allowed_sans",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
    "curve_preferences",
}
_HTTP_KEYS = {"http2", "headers"}
_RATE_KEYS = {"interval", "burst"}
# Headers the toolkit lets a web config set (docs/web-configuration.md), canonical spelling.
_ALLOWED_HEADERS = {
    h.lower(): h
    for h in (
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "X-XSS-Protection",
        "Strict-Transport-Security",
    )
}
# Names only: the ssl module (OpenSSL, ~15 ms CPU and ~2.6 MiB at import) is imported when a
# context is built, so a web config without TLS (basic auth, headers) never loads it.
# toolkit name -> ssl.TLSVersion member name, in ascending order.
_TLS_VERSIONS = {"TLS10": "TLSv1", "TLS11": "TLSv1_1", "TLS12": "TLSv1_2", "TLS13": "TLSv1_3"}
_VERIFY_NONE, _VERIFY_OPTIONAL, _VERIFY_REQUIRED = "CERT_NONE", "CERT_OPTIONAL", "CERT_REQUIRED"
# toolkit client_auth_type -> ssl.VerifyMode member name
_CLIENT_AUTH = {
    "": _VERIFY_NONE,
    "NoClientCert": _VERIFY_NONE,
    "VerifyClientCertIfGiven": _VERIFY_OPTIONAL,
    "RequireAndVerifyClientCert": _VERIFY_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
_BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")


class WebConfigError(ValueError):
    """The web config file is unreadable, not valid YAML, or asks for something we do not do.

    The message names the file and the key.
    """


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """``tls_server_config`` with paths made absolute (inline PEM kept as text).

    ``verify_mode`` is the name of an :class:`ssl.VerifyMode` member (``"CERT_NONE"``,
    ``"CERT_OPTIONAL"``, ``"CERT_REQUIRED"``); ``min_version``/``max_version`` name
    :class:`ssl.TLSVersion` members (``"TLSv1_2"``).
    """

    cert_file: str | None
    key_file: str | None
    cert: str | None
    key: str | None
    client_ca_file: str | None
    client_ca: str | None
    verify_mode: str
    client_allowed_sans: tuple[str, ...]
    min_version: str
    max_version: str
    prefer_server_cipher_suites: bool

    def files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.cert_file, self.key_file, self.client_ca_file) if f)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """A parsed web config file.

    Attributes:
        path: the file (absolute).
        tls: TLS settings, ``None`` = plain HTTP.
        headers: extra response headers (canonical names).
        users: basic-auth user -> bcrypt hash; empty = no authentication.
        rate_interval: seconds between requests of the token bucket (0 = no rate limit).
        rate_burst: bucket size.
    """

    path: str
    tls: TlsSettings | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    users: Mapping[str, bytes] = field(default_factory=dict)
    rate_interval: float = 0.0
    rate_burst: int = 0

    def ssl_context(self) -> ssl.SSLContext | None:
        """A server :class:`ssl.SSLContext` for :attr:`tls` (``None`` without TLS).

        Raises:
            WebConfigError: a certificate, key or CA cannot be loaded.
        """
        if self.tls is None:
            return None
        return build_server_context(self.tls, self.path)


def _where(path: str, key: str) -> str:
    return f"web config {path}: {key}"


def _bad(path: str, key: str, problem: str) -> WebConfigError:
    return WebConfigError(_where(path, key) + problem)


def _mapping(value: Any, path: str, key: str, allowed: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(path, key, " must be a mapping")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise _bad(path, key, f": unknown field(s) {', '.join(unknown)} (known: {known})")
    return value


def _string(value: Any, path: str, key: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(path, key, " must be a string")
    return value


def _file(value: Any, base: str, path: str, key: str) -> str | None:
    name = _string(value, path, key)
    if name is None:
        return None
    return name if os.path.isabs(name) else os.path.join(base, name)


def _parse_tls(raw: Any, path: str, base: str) -> TlsSettings | None:
    t = _mapping(raw, path, "tls_server_config", _TLS_KEYS)
    if not t:
        return None
    for key in ("cipher_suites", "curve_preferences"):
        if t.get(key):
            raise WebConfigError(
                f"{_where(path, 'tls_server_config.' + key)} is not supported (Go names do not map "
                "onto OpenSSL's); remove it to use OpenSSL's defaults"
            )
    cert_file = _file(t.get("cert_file"), base, path, "tls_server_config.cert_file")
    key_file = _file(t.get("key_file"), base, path, "tls_server_config.key_file")
    cert_pem = _string(t.get("cert"), path, "tls_server_config.cert")
    key_pem = _string(t.get("key"), path, "tls_server_config.key")
    if cert_file and cert_pem:
        raise _bad(path, "tls_server_config", ": give cert or cert_file, not both")
    if key_file and key_pem:
        raise _bad(path, "tls_server_config", ": give key or key_file, not both")
    has_cert, has_key = bool(cert_file or cert_pem), bool(key_file or key_pem)
    if has_cert != has_key:
        missing = "key_file (or key)" if has_cert else "cert_file (or cert)"
        raise _bad(path, "tls_server_config", f": missing {missing}")
    auth_name = _string(t.get("client_auth_type"), path, "tls_server_config.client_auth_type") or ""
    if auth_name in _UNVERIFIED_CLIENT_AUTH:
        raise WebConfigError(
            f"{_where(path, 'tls_server_config.client_auth_type')} {auth_name} accepts client "
            "certificates without verifying them: not supported; use RequireAndVerifyClientCert "
            "(or VerifyClientCertIfGiven) with client_ca_file"
        )
    if auth_name not in _CLIENT_AUTH:
        raise WebConfigError(
            f"{_where(path, 'tls_server_config.client_auth_type')}: unknown value {auth_name!r} "
            f"(one of {', '.join(k for k in _CLIENT_AUTH if k)})"
        )
    verify_mode = _CLIENT_AUTH[auth_name]
    ca_file = _file(t.get("client_ca_file"), base, path, "tls_server_config.client_ca_file")
    ca = _string(t.get("client_ca"), path, "tls_server_config.client_ca")
    if ca_file and ca:
        raise WebConfigError(
            f"{_where(path, 'tls_server_config')}: give client_ca or client_ca_file, not both"
        )
    if (ca_file or ca) and verify_mode == _VERIFY_NONE:
        raise WebConfigError(
            f"{_where(path, 'tls_server_config')}: a client CA is configured without a client_auth_type "
            "that verifies (RequireAndVerifyClientCert or VerifyClientCertIfGiven)"
        )
    if verify_mode != _VERIFY_NONE and not (ca_file or ca):
        raise WebConfigError(
            f"{_where(path, 'tls_server_config')}: client_auth_type {auth_name} needs client_ca_file"
        )
    sans_raw = t.get("client_allowed_sans") or []
    if not isinstance(sans_raw, list) or not all(isinstance(s, str) for s in sans_raw):
        raise WebConfigError(
            f"{_where(path, 'tls_server_config.client_allowed_sans')} must be a list of strings"
        )
    if sans_raw and verify_mode != _VERIFY_REQUIRED:
        raise WebConfigError(
            f"{_where(path, 'tls_server_config.client_allowed_sans')} needs client_auth_type "
            "RequireAndVerifyClientCert (otherwise a client may send no certificate at all)"
        )
    versions = []
    for key, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        name = _string(t.get(key), path, "tls_server_config." + key) or default
        if name not in _TLS_VERSIONS:
            raise WebConfigError(
                f"{_where(path, 'tls_server_config.' + key)}: unknown version {name!r} "
                f"(one of {', '.join(_TLS_VERSIONS)})"
            )
        versions.append(_TLS_VERSIONS[name])
    order = list(_TLS_VERSIONS.values())
    if order.index(versions[0]) > order.index(versions[1]):
        raise _bad(path, "tls_server_config", ": min_version is above max_version")
    prefer = t.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise WebConfigError(
            f"{_where(path, 'tls_server_config.prefer_server_cipher_suites')} must be true or false"
        )
    if not has_cert:
        # The toolkit treats a tls_server_config without certificate as "TLS off"; settings that
        # only make sense with TLS must not be silently dropped.
        if verify_mode != _VERIFY_NONE or sans_raw:
            raise WebConfigError(
                f"{_where(path, 'tls_server_config')}: client authentication needs cert_file and key_file"
            )
        return None
    return TlsSettings(
        cert_file=cert_file,
        key_file=key_file,
        cert=cert_pem,
        key=key_pem,
        client_ca_file=ca_file,
        client_ca=ca,
        verify_mode=verify_mode,
        client_allowed_sans=tuple(sans_raw),
        min_version=versions[0],
        max_version=versions[1],
        prefer_server_cipher_suites=prefer,
    )


def _parse_headers(raw: Any, path: str) -> dict[str, str]:
    h = _mapping(raw, path, "http_server_config", _HTTP_KEYS)
    if "http2" in h and not isinstance(h["http2"], bool):
        raise _bad(path, "http_server_config.http2", " must be true or false")
    headers_raw = h.get("headers") or {}
    if not isinstance(headers_raw, dict):
        raise _bad(path, "http_server_config.headers", " must be a mapping")
    headers: dict[str, str] = {}
    for name, value in headers_raw.items():
        canonical = _ALLOWED_HEADERS.get(str(name).lower())
        if canonical is None:
            raise WebConfigError(
                f"{_where(path, 'http_server_config.headers')}: header {name!r} may not be set "
                f"(allowed: {', '.join(sorted(_ALLOWED_HEADERS.values()))})"
            )
        text = _string(value, path, f"http_server_config.headers.{name}")
        if text is None:
            continue  # blank = unset
        if canonical == "X-Frame-Options" and text.lower() not in ("deny", "sameorigin"):
            raise WebConfigError(
                f"{_where(path, 'X-Frame-Options')}: must be deny or sameorigin, got {text!r}"
            )
        if canonical == "X-Content-Type-Options" and text.lower() != "nosniff":
            raise _bad(path, "X-Content-Type-Options", f": must be nosniff, got {text!r}")
        headers[canonical] = text
    return headers


def _parse_users(raw: Any, path: str) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _bad(path, "basic_auth_users", " must be a mapping of user to bcrypt hash")
    users: dict[str, bytes] = {}
    for user, hashed in raw.items():
        if not isinstance(user, str) or not isinstance(hashed, str):
            raise _bad(path, "basic_auth_users", ": user names and hashes must be strings")
        h = hashed.encode()
        if not h.startswith(_BCRYPT_PREFIXES) or len(h) != 60:
            raise WebConfigError(
                f"{_where(path, 'basic_auth_users.' + user)}: not a bcrypt hash "
                "(expected $2y$/$2b$/$2a$..., e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
            )
        users[user] = h
    return users


def _parse_rate(raw: Any, path: str) -> tuple[float, int]:
    from config_reloader.durations import parse_duration

    r = _mapping(raw, path, "rate_limit", _RATE_KEYS)
    if not r:
        return 0.0, 0
    interval_raw = r.get("interval", 0)
    try:
        interval = parse_duration(str(interval_raw)) if interval_raw else 0.0
    except ValueError as exc:
        raise _bad(path, "rate_limit.interval", f": {exc}") from None
    burst = r.get("burst", 0)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        raise _bad(path, "rate_limit.burst", " must be an integer >= 0")
    if interval > 0 and burst == 0:
        raise _bad(path, "rate_limit", ": burst must be >= 1 when interval is set")
    return interval, burst


def load_web_config(path: str) -> WebConfig:
    """Read and check ``path`` (also loads the TLS material once, so errors surface at start).

    Args:
        path: the web config file; relative names inside it are relative to its directory.

    Returns:
        The :class:`WebConfig`. An empty file (or ``{}``) = plain HTTP, no auth.

    Raises:
        WebConfigError: unreadable file, invalid YAML, unknown or unsupported field, bad value,
            or a certificate/key/CA that does not load.
    """
    import yaml

    path = os.path.abspath(path)
    try:
        # Bounded and non-blocking: a FIFO or device named by mistake must not hang the start.
        text = read_stable(path, WEB_CONFIG_LIMIT)[0].decode("utf-8")
    except NotRegularFile as exc:
        raise WebConfigError(f"web config {path}: {exc.kind}, not a regular file") from None
    except FileTooLarge:
        raise WebConfigError(f"web config {path}: larger than {WEB_CONFIG_LIMIT} bytes") from None
    except OSError as exc:
        raise WebConfigError(f"web config {path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise WebConfigError(f"web config {path}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # PyYAML's message spans lines ("...\n  in "<unicode string>", position 0"): one line.
        raise WebConfigError(f"web config {path}: invalid YAML: {_one_line(exc)}") from None
    except RecursionError:  # PyYAML's composer recurses once per nesting level: "[[[[..."
        raise WebConfigError(f"web config {path}: invalid YAML: nested too deeply") from None
    top = _mapping(data, path, "the top level", _TOP_KEYS)
    base = os.path.dirname(path)
    interval, burst = _parse_rate(top.get("rate_limit"), path)
    cfg = WebConfig(
        path=path,
        tls=_parse_tls(top.get("tls_server_config"), path, base),
        headers=_parse_headers(top.get("http_server_config"), path),
        users=_parse_users(top.get("basic_auth_users"), path),
        rate_interval=interval,
        rate_burst=burst,
    )
    cfg.ssl_context()  # load the certificate now: a typo must fail at start, not at the first scrape
    return cfg


def _one_line(exc: Exception) -> str:
    """PyYAML's problem and its position, on one line (the mark names "<unicode string>")."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is None:
        return " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{context + ': ' if context else ''}{problem}{where}"


def build_server_context(tls: TlsSettings, path: str) -> ssl.SSLContext:
    """A server context for ``tls`` (certificate and client CA loaded now).

    Raises:
        WebConfigError: a certificate, key or CA cannot be loaded (the message names ``path``).
    """
    import ssl  # only here: see _TLS_VERSIONS

    from config_reloader.pemload import chain_error, pem_file_problem, ssl_reason

    for file, key in (
        (tls.cert_file, "tls_server_config.cert_file"),
        (tls.key_file, "tls_server_config.key_file"),
        (tls.client_ca_file if tls.verify_mode != _VERIFY_NONE else None, "tls_server_config.client_ca_file"),
    ):
        problem = None if file is None else pem_file_problem(file)
        if problem is not None:
            raise _bad(path, key, f" {file}: {problem}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion[tls.min_version]
    ctx.maximum_version = ssl.TLSVersion[tls.max_version]
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        if tls.cert is not None or tls.key is not None:
            _load_inline_chain(ctx, tls)
        else:
            assert tls.cert_file is not None
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        which, problem = chain_error(exc, tls.cert_file if tls.cert is None else None)
        where = {
            "cert": f"tls_server_config.cert_file {tls.cert_file}: ",
            "key": "tls_server_config.key: "
            if tls.key is not None
            else f"tls_server_config.key_file {tls.key_file}: ",
        }.get(which, "")
        raise WebConfigError(
            f"web config {path}: cannot load the server certificate/key: {where}{problem}"
        ) from None
    if tls.verify_mode != _VERIFY_NONE:
        try:
            if tls.client_ca is not None:
                ctx.load_verify_locations(cadata=tls.client_ca)
            else:
                ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            where = "client_ca" if tls.client_ca is not None else f"client_ca_file {tls.client_ca_file}"
            raise WebConfigError(
                f"web config {path}: cannot load the client CA: tls_server_config.{where}: "
                f"{ssl_reason(exc)} (a PEM CA bundle is expected)"
            ) from None
        ctx.verify_mode = ssl.VerifyMode[tls.verify_mode]
    return ctx


def _load_inline_chain(ctx: ssl.SSLContext, tls: TlsSettings) -> None:
    """``ssl`` loads chains from files only: inline PEM goes through a private temp dir."""
    with tempfile.TemporaryDirectory(prefix="config-reloader-tls-") as d:  # mode 0700
        cert_path = tls.cert_file
        key_path = tls.key_file
        if tls.cert is not None:
            cert_path = os.path.join(d, "cert.pem")
            with open(os.open(cert_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(tls.cert)
        if tls.key is not None:
            key_path = os.path.join(d, "key.pem")
            with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(tls.key)
        assert cert_path is not None
        ctx.load_cert_chain(cert_path, key_path)
