"""How the reload and runtime-info clients reach a target: TLS settings and credentials from files.

:class:`HttpClientConfig` carries the ``--reload-tls-*``, ``--reload-basic-auth-*`` and
``--reload-bearer-token-file`` settings; the same config serves ``--reload-url`` and
``--runtimeinfo-url``. Secrets come from files only, never from the command line (every process
can read ``/proc/PID/cmdline``), and the files are re-read at every attempt, so a rotated
Kubernetes Secret is picked up without a restart.

TLS verification default: for an ``https`` URL whose host is a loopback address or ``localhost``
the certificate is not verified (the call never leaves the host or the pod's network namespace, a
certificate issued for 127.0.0.1 is rare, and prometheus-config-reloader never verifies at all);
any other host is verified against the system CAs or ``--reload-tls-ca-file``. A CA file turns
verification on for loopback hosts too.

This module does not import :mod:`ssl`: the plain-http path must not pay for it. The TLS context
is built by :mod:`config_reloader.reload.tls`, imported only for ``https`` URLs.
"""

from __future__ import annotations

import _socket  # not socket: see reload/wire.py
from binascii import b2a_base64

from ..bounded_read import FileTooLarge, NotRegularFile, read_stable
from ..errors import ReloadError
from ..record import Record, record

__all__ = [
    "CREDENTIAL_FILE_LIMIT",
    "HttpClientConfig",
    "TlsFailure",
    "is_loopback_host",
    "read_secret_file",
]

CREDENTIAL_FILE_LIMIT = 64 * 1024
"""Bytes read at most from a password or token file (a bigger file is an error, never truncated)."""


_V6_LOOPBACK = bytes(15) + b"\x01"  # ::1
_V4_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96 (RFC 4291 2.5.5.2)


class TlsFailure(Exception):
    """The TLS handshake failed (certificate rejected, protocol mismatch). Raised by
    :mod:`~config_reloader.reload.tls`; defined here so the plain-http path can catch it without
    importing :mod:`ssl`. The message names the flags that fix it."""


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``, RFC 6761) and loopback addresses
    (127.0.0.0/8, ``::1``, IPv4-mapped ``::ffff:127.x``). Names are not resolved."""
    h = host.strip("[]").rstrip(".").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    # inet_pton, not ipaddress (~2.8 ms to import): the same addresses, dotted quads of four
    # decimal parts without leading zeros and RFC 4291 IPv6 text, parse.
    h = h.partition("%")[0]
    try:
        return _socket.inet_pton(_socket.AF_INET, h)[0] == 127
    except OSError:
        pass
    try:
        v6 = _socket.inet_pton(_socket.AF_INET6, h)
    except OSError:
        return False
    return v6 == _V6_LOOPBACK or (v6[:12] == _V4_MAPPED and v6[12] == 127)


def read_secret_file(path: str, flag: str) -> str:
    """Read a password or token file: UTF-8, surrounding whitespace stripped (a trailing newline is
    what ``echo`` and most editors leave; Prometheus' own ``password_file`` trims it too).

    Raises:
        ValueError: unreadable, not a regular file, larger than :data:`CREDENTIAL_FILE_LIMIT`,
            not UTF-8, or empty after stripping; the message names ``flag`` and ``path``, never
            the content.
    """
    try:
        # Opened with O_NONBLOCK and checked on the descriptor (fstat): a check of the path before
        # opening it lets a FIFO swapped in between block the open until a writer comes.
        data = read_stable(path, CREDENTIAL_FILE_LIMIT)[0]
    except NotRegularFile as exc:
        raise ValueError(f"{flag} {path}: {exc.kind}, not a regular file") from None
    except FileTooLarge:
        raise ValueError(f"{flag} {path}: larger than {CREDENTIAL_FILE_LIMIT} bytes") from None
    except OSError as exc:
        raise ValueError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{flag} {path}: not UTF-8 text") from None
    if not text:
        raise ValueError(f"{flag} {path}: is empty")
    return text


@record  # not a dataclass: ``import dataclasses`` is ~6 ms before the first reload (record.py)
class HttpClientConfig(Record):
    """TLS and credentials for the reload and runtime-info clients. ``None`` = not set.
    Immutable, compared and hashed by value (a key of the TLS context cache).

    Attributes:
        tls_ca_file: ``--reload-tls-ca-file``: PEM CA bundle to verify the target's certificate
            (replaces the system CAs; turns verification on for loopback hosts too).
        tls_cert_file: ``--reload-tls-cert-file``: PEM client certificate (with ``tls_key_file``).
        tls_key_file: ``--reload-tls-key-file``: PEM private key of the client certificate.
        tls_server_name: ``--reload-tls-server-name``: the name sent in SNI and checked against
            the certificate, instead of the URL's host.
        tls_insecure_skip_verify: ``--reload-tls-insecure-skip-verify``: ``True`` never verifies,
            ``False`` always verifies (loopback too), ``None`` = the default by host (above).
        basic_auth_username: ``--reload-basic-auth-username`` (not a secret).
        basic_auth_password_file: ``--reload-basic-auth-password-file``, re-read at every attempt.
        bearer_token_file: ``--reload-bearer-token-file``, re-read at every attempt
            (``Authorization: Bearer <token>``).

    Raises:
        ValueError: a certificate without its key (or the reverse), a username without a
            password file (or the reverse), basic auth together with a bearer token, or
            ``tls_insecure_skip_verify=True`` together with a CA file; the flags are named.
    """

    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_server_name: str | None = None
    tls_insecure_skip_verify: bool | None = None
    basic_auth_username: str | None = None
    basic_auth_password_file: str | None = None
    bearer_token_file: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "tls_ca_file",
            "tls_cert_file",
            "tls_key_file",
            "tls_server_name",
            "basic_auth_username",
            "basic_auth_password_file",
            "bearer_token_file",
        ):
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "--reload-tls-cert-file and --reload-tls-key-file go together (client certificate)"
            )
        if (self.basic_auth_username is None) != (self.basic_auth_password_file is None):
            raise ValueError(
                "--reload-basic-auth-username and --reload-basic-auth-password-file go together "
                "(the password is read from the file only)"
            )
        if self.basic_auth_username is not None and self.bearer_token_file is not None:
            raise ValueError(
                "--reload-basic-auth-username and --reload-bearer-token-file exclude each other "
                "(one Authorization header)"
            )
        if self.basic_auth_username is not None and ":" in self.basic_auth_username:
            raise ValueError("--reload-basic-auth-username must not contain ':' (RFC 7617)")
        if self.tls_insecure_skip_verify is True and self.tls_ca_file is not None:
            raise ValueError(
                "--reload-tls-insecure-skip-verify and --reload-tls-ca-file contradict each other: "
                "a CA file is only used to verify"
            )

    @property
    def has_credentials(self) -> bool:
        """True when basic auth or a bearer token is configured."""
        return self.basic_auth_username is not None or self.bearer_token_file is not None

    @property
    def has_tls_settings(self) -> bool:
        """True when any ``--reload-tls-*`` setting is given."""
        return any(
            v is not None
            for v in (
                self.tls_ca_file,
                self.tls_cert_file,
                self.tls_key_file,
                self.tls_server_name,
                self.tls_insecure_skip_verify,
            )
        )

    def verifies(self, host: str) -> bool:
        """Whether an ``https`` connection to ``host`` verifies the certificate (see the module)."""
        if self.tls_insecure_skip_verify is not None:
            return not self.tls_insecure_skip_verify
        return self.tls_ca_file is not None or not is_loopback_host(host)

    def check(self) -> None:
        """Read the credential files once, at start, so that a wrong path fails there and not at
        the first change. The TLS files load only with :mod:`ssl`:
        :func:`config_reloader.reload.tls.check_files` checks them (when some URL is ``https``).

        Raises:
            ValueError: the first file that cannot be used; the message names its flag.
        """
        if self.basic_auth_password_file is not None:
            read_secret_file(self.basic_auth_password_file, "--reload-basic-auth-password-file")
        if self.bearer_token_file is not None:
            read_secret_file(self.bearer_token_file, "--reload-bearer-token-file")

    def auth_headers(self) -> dict[str, str]:
        """The ``Authorization`` header for one attempt, files read now (rotation needs no restart).

        Returns:
            ``{}`` without credentials, else ``{"Authorization": "Basic ..."}`` (RFC 7617, UTF-8)
            or ``{"Authorization": "Bearer ..."}``.

        Raises:
            ReloadError: a file cannot be read or is empty (the attempt fails and is retried
                later); the message names the flag and the path, never the content.
        """
        try:
            if self.basic_auth_password_file is not None:
                password = read_secret_file(
                    self.basic_auth_password_file, "--reload-basic-auth-password-file"
                )
                pair = f"{self.basic_auth_username}:{password}".encode()
                return {"Authorization": "Basic " + b2a_base64(pair, newline=False).decode("ascii")}
            if self.bearer_token_file is not None:
                token = read_secret_file(self.bearer_token_file, "--reload-bearer-token-file")
                if any(c < " " or c == "\x7f" for c in token):
                    raise ValueError(
                        f"--reload-bearer-token-file {self.bearer_token_file}: holds a control character"
                    )
                return {"Authorization": "Bearer " + token}
        except ValueError as exc:
            raise ReloadError(f"credentials: {exc}", target="credentials") from None
        return {}

    def secret_values(self) -> list[str]:
        """The current contents of the credential files (those readable now), to mask them in
        output that is logged (a reload command echoing its environment or arguments)."""
        out: list[str] = []
        for path, flag in (
            (self.basic_auth_password_file, "--reload-basic-auth-password-file"),
            (self.bearer_token_file, "--reload-bearer-token-file"),
        ):
            if path is not None:
                try:
                    out.append(read_secret_file(path, flag))
                except ValueError:
                    pass
        return out

    def describe_tls(self, host: str) -> str:
        """One line for the start-up log: how an ``https`` connection to ``host`` is checked."""
        if not self.verifies(host):
            why = (
                "--reload-tls-insecure-skip-verify"
                if self.tls_insecure_skip_verify
                else "loopback host; verify it with --reload-tls-ca-file "
                "or --reload-tls-insecure-skip-verify=false"
            )
            return f"certificate not verified ({why})"
        against = f"CA file {self.tls_ca_file}" if self.tls_ca_file else "the system CAs"
        name = f", name {self.tls_server_name}" if self.tls_server_name else ""
        return f"certificate verified against {against}{name}"
