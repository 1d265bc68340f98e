"""TLS for the reload and runtime-info clients: the :class:`ssl.SSLContext` from
:class:`~config_reloader.reload.client.HttpClientConfig`, and the TLS handshake of an ``https``
connection (:func:`client_wrapper`, used by :mod:`config_reloader.reload.wire`).

Imported only for ``https`` URLs or when a CA file or client certificate is checked at start, so
that the plain-http path never imports :mod:`ssl` through this package.

Contexts are cached per (config, verify) and rebuilt when a CA, certificate or key file changes
(by inode, size, mtime and ctime), so certificate rotation (cert-manager, a renewed Secret) needs no
restart, while a poll every 100 ms does not reload the system CA bundle each time.
"""

from __future__ import annotations

import _socket
import os
import socket
import ssl
import threading
from collections.abc import Callable

from config_reloader.pemload import chain_error, pem_file_problem, ssl_reason

from .client import HttpClientConfig, TlsFailure

__all__ = ["check_files", "client_wrapper", "context_for"]

_FIX_VERIFY = (
    "give the CA that signed it with --reload-tls-ca-file, the name the certificate holds with "
    "--reload-tls-server-name, or turn verification off with --reload-tls-insecure-skip-verify"
)

_Signature = tuple[tuple[int, int, int, int] | None, ...]
_cache: dict[tuple[HttpClientConfig, bool], tuple[_Signature, ssl.SSLContext]] = {}
_lock = threading.Lock()  # contexts are built in the exchange's worker thread


def _signature(config: HttpClientConfig) -> _Signature:
    out: list[tuple[int, int, int, int] | None] = []
    for path in (config.tls_ca_file, config.tls_cert_file, config.tls_key_file):
        if path is None:
            out.append(None)
            continue
        try:
            st = os.stat(path)
        except OSError:
            out.append((-1, -1, -1, -1))  # missing now: building the context says why
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def _check_pem_file(path: str, flag: str) -> None:
    """Raises ValueError naming ``flag`` and ``path`` for a file OpenSSL must not read."""
    problem = pem_file_problem(path)
    if problem is not None:
        raise ValueError(f"{flag} {path}: {problem}")


def _build(config: HttpClientConfig, verify: bool) -> ssl.SSLContext:
    """Raises ValueError naming the flag of a file that does not load."""
    for path, flag in (
        (config.tls_ca_file if verify else None, "--reload-tls-ca-file"),
        (config.tls_cert_file, "--reload-tls-cert-file"),
        (config.tls_key_file, "--reload-tls-key-file"),
    ):
        if path is not None:
            _check_pem_file(path, flag)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # TLS 1.2+, hostname check and CERT_REQUIRED
    if verify:
        if config.tls_ca_file is not None:
            try:
                ctx.load_verify_locations(cafile=config.tls_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"--reload-tls-ca-file {config.tls_ca_file}: {_reason(exc)} (a PEM CA bundle is expected)"
                ) from None
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if config.tls_cert_file is not None and config.tls_key_file is not None:
        try:
            ctx.load_cert_chain(config.tls_cert_file, config.tls_key_file)
        except (OSError, ssl.SSLError) as exc:
            which, problem = chain_error(exc, config.tls_cert_file)
            if which == "cert":
                raise ValueError(f"--reload-tls-cert-file {config.tls_cert_file}: {problem}") from None
            if which == "key":
                raise ValueError(f"--reload-tls-key-file {config.tls_key_file}: {problem}") from None
            raise ValueError(
                f"--reload-tls-cert-file {config.tls_cert_file} / --reload-tls-key-file "
                f"{config.tls_key_file}: {problem} (PEM certificate and its unencrypted key)"
            ) from None
    return ctx


def _reason(exc: BaseException) -> str:
    return ssl_reason(exc)


def context_for(config: HttpClientConfig, verify: bool) -> ssl.SSLContext:
    """The context for ``config``; rebuilt when one of its files changed.

    Raises:
        ValueError: the CA file, certificate or key does not load (the flag is named).
    """
    key = (config, verify)
    sig = _signature(config)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == sig:
            return cached[1]
    ctx = _build(config, verify)
    with _lock:
        _cache[key] = (sig, ctx)
    return ctx


def check_files(config: HttpClientConfig) -> None:
    """Load the CA file and client certificate once (start-up check).

    Raises:
        ValueError: as :func:`context_for`.
    """
    _build(config, verify=config.tls_ca_file is not None)


def client_wrapper(host: str, config: HttpClientConfig | None) -> Callable[[_socket.socket], ssl.SSLSocket]:
    """The TLS client side of a connection to ``host`` (the URL's host, without brackets):
    ``--reload-tls-server-name`` or ``host`` is sent in SNI and checked against the certificate,
    verification as :meth:`HttpClientConfig.verifies` decides. The context is built now.

    Returns:
        ``wrap(sock)``: the handshake on the connected ``sock`` (under its timeout; ``sock`` is
        detached from, the TLS socket owns the connection); it returns
        the TLS socket or raises :class:`TlsFailure` naming the flags that fix the failure (the
        plain socket is then closed).

    Raises:
        ValueError: a CA, certificate or key file does not load (the flag is named).
    """
    cfg = config or HttpClientConfig()
    context = context_for(cfg, cfg.verifies(host))
    name = cfg.tls_server_name or host

    def wrap(raw: _socket.socket) -> ssl.SSLSocket:
        # ssl wants a socket.socket; reload/wire.py connects a _socket.socket (why: see there)
        timeout = raw.gettimeout()
        sock = socket.socket(fileno=raw.detach())
        sock.settimeout(timeout)
        try:
            return context.wrap_socket(sock, server_hostname=name)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            # OpenSSL's verify message may end in a full stop ("...valid for 'localhost'."): one
            # sentence, the fix follows after the semicolon.
            what = (exc.verify_message or exc.reason or str(exc)).rstrip(".")
            raise TlsFailure(f"certificate of {name} rejected: {what}; {_FIX_VERIFY}") from None
        except ssl.SSLError as exc:
            sock.close()
            hint = (
                "; the target may require a client certificate "
                "(--reload-tls-cert-file, --reload-tls-key-file)"
                if "CERTIFICATE_REQUIRED" in str(exc).upper()
                else ""
            )
            raise TlsFailure(f"TLS handshake with {name} failed: {_reason(exc)}{hint}") from None

    return wrap
