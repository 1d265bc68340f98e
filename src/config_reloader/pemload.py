"""Say which file of a certificate chain OpenSSL refused, in words; refuse files OpenSSL must not read.

:meth:`ssl.SSLContext.load_cert_chain` reports a certificate that is not PEM and a key that is
not PEM alike, as ``[SSL] PEM lib (_ssl.c:3874)`` (only the C line tells them apart). Imported
only where :mod:`ssl` is already loaded.
"""

from __future__ import annotations

import os
import ssl
import stat

from config_reloader.bounded_read import file_kind

__all__ = ["PEM_FILE_LIMIT", "chain_error", "pem_file_problem", "ssl_reason"]

PEM_FILE_LIMIT = 16 << 20
"""Bytes a certificate, key or CA bundle file may hold (Debian's whole CA bundle is ~220 KB)."""


def pem_file_problem(path: str) -> str | None:
    """Why OpenSSL must not be handed ``path``, or ``None``.

    OpenSSL opens and reads these files itself: a FIFO would block it until a writer comes, a
    device or a file of gigabytes would be read without end. A missing file is ``None``: OpenSSL's
    own message says so. The answer is ``"a FIFO, not a regular file"`` or ``"larger than N
    bytes"``, for the caller to prefix with the flag or key that named the file.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return f"{file_kind(st.st_mode)}, not a regular file"
    if st.st_size > PEM_FILE_LIMIT:
        return f"larger than {PEM_FILE_LIMIT} bytes"
    return None


def ssl_reason(exc: BaseException) -> str:
    """OpenSSL's reason (``KEY_VALUES_MISMATCH``) or the OS error text, without the C source line."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, ssl.SSLError):
        return "not PEM"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def chain_error(exc: BaseException, cert_file: str | None) -> tuple[str, str]:
    """``(which, problem)`` for a failed ``load_cert_chain(cert_file, key_file)``.

    ``which`` is ``"cert"`` (the certificate file is at fault), ``"key"`` (the certificate loads
    as PEM, so the key is), or ``""`` (not known: an OS error, or a reason OpenSSL named such as
    a key that does not match). ``cert_file`` ``None`` (inline PEM) gives ``""``.
    """
    if not isinstance(exc, ssl.SSLError) or exc.reason:
        return "", ssl_reason(exc)
    if cert_file is None:
        return "", "not a PEM certificate and its unencrypted private key"
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=cert_file)
    except (OSError, ssl.SSLError):
        return "cert", "not a PEM certificate"
    return "key", "not a PEM private key (unencrypted)"
