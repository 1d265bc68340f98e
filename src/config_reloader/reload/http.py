"""Reload over HTTP: ``POST`` to the reload URL (Prometheus ``/-/reload``), the readiness check,
and the one request/answer exchange the runtime-info client (:mod:`config_reloader.reload.runtimeinfo`)
uses as well.

Facts: Thanos' ``HTTPReloader`` sends a ``POST`` without a
body and counts only status 200 as success; Prometheus answers 403 (older releases 405) on
``/-/reload`` unless started with ``--web.enable-lifecycle``. prometheus-operator bounds the
request with ``--reload-timeout`` (default 30s, prometheus-operator#5349) and disables keep-alive; we do
the same (one new connection per request) so a restarted target never meets a dead pooled connection.

The client is the standard library's :mod:`http.client`, run in a worker thread
(:func:`asyncio.to_thread`): importing aiohttp for one request costs ~21 MiB RSS, most of the
budget of ``watch`` (docs/DEPENDENCIES.md).

Credentials: from files (:class:`~config_reloader.reload.client.HttpClientConfig`, re-read at every
attempt) or, discouraged because every process can read ``/proc/PID/cmdline``, in the URL
(``http://user:pass@host/...``). Neither is ever part of an error message, a log field or a label
(:func:`config_reloader.logs.redact_url`). ``https`` URLs use :mod:`config_reloader.reload.tls`
(imported only for them); the certificate check is described in
:mod:`config_reloader.reload.client`.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import socket
import time
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from ..errors import ReloadError, ReloadRejected, ReloadTimeout, TargetNotFound
from ..logs import redact_url
from . import _require_positive_seconds
from .client import HttpClientConfig, TlsFailure, log_tls_choice_once
from .urls import split_credentials

__all__ = ["HttpReload", "check_url", "fetch_ok", "split_credentials"]

log = logging.getLogger(__name__)

_BODY_LIMIT = 4096  # bytes read from an error response
_BODY_SHOWN = 200  # characters of it kept in messages
_LIFECYCLE_STATUSES = frozenset({403, 404, 405})


class _Unreachable(Exception):
    """The connection could not be opened (refused, no route, name not resolved, TLS handshake)."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause)
        self.cause = cause


def _client_headers(url: str, client: HttpClientConfig | None) -> tuple[str, dict[str, str]]:
    """:func:`split_credentials`, refusing credentials both in the URL and in ``client``.

    Raises:
        ValueError: as :func:`split_credentials`, or credentials given twice.
    """
    bare, headers = split_credentials(url)
    if headers and client is not None and client.has_credentials:
        raise ValueError(
            f"{redact_url(url)!r} holds credentials and credential files are given too: use one "
            "(the files: --reload-basic-auth-password-file or --reload-bearer-token-file)"
        )
    parts = urlsplit(bare)
    if parts.scheme == "https":
        log_tls_choice_once(redact_url(url), parts.hostname or "", client)
    return bare, headers


def check_url(url: str, client: HttpClientConfig | None) -> None:
    """Check ``url`` with ``client`` once, at construction: the URL's syntax, credentials not
    given twice, and (``https``) log how its certificate is checked, once per process.

    Raises:
        ValueError: as :func:`split_credentials`, or credentials both in the URL and in ``client``.
    """
    _client_headers(url, client)


class _Exchange:
    """One blocking HTTP request on a new connection, run in a worker thread.

    ``timeout`` bounds the whole exchange: every socket operation gets the time left of it. The
    event loop side calls :meth:`abandon` when it stops waiting (deadline or cancellation): that
    shuts the socket down so a blocked read in the thread returns at once.
    """

    def __init__(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        *,
        timeout: float,
        limit: int | None,
        client: HttpClientConfig | None = None,
        target: str = "",
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.limit = limit
        self.client = client
        self.target = target
        self._sock: socket.socket | None = None

    def _connection(self, netloc: str, host: str, https: bool) -> http.client.HTTPConnection:
        if not https:
            return http.client.HTTPConnection(netloc, timeout=self.timeout)
        # Only https targets import ssl and build a TLS context (the system CA bundle alone is
        # ~10 ms and ~1 MiB); contexts are cached there, rebuilt when a CA/cert file changes.
        from .tls import HTTPSConnection

        return HTTPSConnection(
            netloc, host=host, config=self.client, timeout=self.timeout, target=self.target
        )

    def run(self) -> tuple[int, str, bytes]:
        """Returns ``(status, reason, body)``; ``body`` holds at most ``limit`` bytes.

        Raises:
            _Unreachable: connect failed (not a timeout).
            TimeoutError: the exchange did not finish within ``timeout`` seconds.
            TlsFailure: the TLS handshake failed (the message names the flags that fix it).
            http.client.HTTPException, OSError, ValueError: any other transport error (ValueError
                also for a CA, certificate or key file that does not load).
        """
        deadline = time.monotonic() + self.timeout
        parts = urlsplit(self.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = self._connection(parts.netloc, parts.hostname or "", parts.scheme == "https")
        try:
            try:
                conn.connect()
            except (TimeoutError, TlsFailure):
                raise
            except OSError as exc:
                raise _Unreachable(exc) from exc
            # Our own reference: on a "Connection: close" or HTTP/1.0 answer getresponse() hands
            # the socket to the response and sets conn.sock to None.
            sock = self._sock = conn.sock
            assert sock is not None

            def budget() -> None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out")
                sock.settimeout(left)

            budget()
            conn.request(self.method, path, headers=self.headers)
            budget()
            with conn.getresponse() as resp:
                budget()
                body = resp.read() if self.limit is None else resp.read(self.limit)
                return resp.status, resp.reason or "", body
        finally:
            conn.close()

    def abandon(self) -> None:
        """Wake the worker thread if it is still blocked on the socket (thread-safe, idempotent)."""
        sock = self._sock
        if sock is not None:
            try:
                # The plain socket's shutdown: SSLSocket.shutdown would also drop its TLS state.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the thread, or never connected


async def _exchange(
    method: str,
    url: str,
    headers: dict[str, str],
    *,
    what: str,
    target: str,
    timeout: float,  # noqa: ASYNC109 - the request budget, also handed to the worker thread
    limit: int | None,
    client: HttpClientConfig | None = None,
) -> tuple[int, str, bytes]:
    """Run one :class:`_Exchange` in a thread; translate errors (``target`` is redacted).

    ``client`` credentials are read here, at every attempt (a rotated file is used at once).

    Raises:
        TimeoutError: no complete answer within ``timeout`` seconds (callers word the message).
        TargetNotFound: connection refused or the host cannot be reached.
        ReloadError: a credential file cannot be read, the TLS handshake failed, or any other
            transport error (reset, malformed response, ...).
    """
    if client is not None and client.has_credentials:
        try:
            headers = {**headers, **client.auth_headers()}
        except ReloadError as exc:
            raise ReloadError(f"{what} {target}: {exc}", target=target) from None
    ex = _Exchange(method, url, headers, timeout=timeout, limit=limit, client=client, target=target)
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(ex.run)
    except TlsFailure as exc:
        raise ReloadError(f"{what} {target}: {exc}", target=target) from None
    except _Unreachable as exc:
        cause = exc.cause
        why = (
            "connection refused"
            if isinstance(cause, ConnectionRefusedError)
            else f"cannot connect ({cause.strerror or cause})"
        )
        raise TargetNotFound(
            f"{what} {target}: {why}; is the target running and listening?", target=target
        ) from cause
    except TimeoutError:
        raise
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise ReloadError(f"{what} {target}: {type(exc).__name__}: {exc}", target=target) from exc
    finally:
        ex.abandon()  # a no-op when the thread has finished; else it returns promptly


class HttpReload:
    """``POST`` to a reload URL; success is status exactly 200 (Thanos ``HTTPReloader``).

    Args:
        url: the reload URL (``--reload-url``, e.g. ``http://127.0.0.1:9090/-/reload``); may carry
            ``user:pass@`` for basic auth (prefer ``client`` credential files).
        timeout: seconds for the whole request, connect to last body byte (``--reload-timeout``).
        client: TLS settings and credential files; ``None`` = defaults, no credentials.

    Raises:
        ValueError: ``url`` is not http(s) with a host, ``timeout`` is not positive, or
            credentials are both in the URL and in ``client``.

    Each :meth:`trigger` opens a new connection and closes it (no keep-alive), so there is nothing
    to close; ``async with`` and :meth:`aclose` are kept for the :class:`ReloadAction` life cycle.
    """

    method = "http"

    def __init__(self, url: str, *, timeout: float, client: HttpClientConfig | None = None) -> None:
        _require_positive_seconds("timeout", timeout)
        self._url, self._headers = _client_headers(url, client)
        self.target = redact_url(url)
        self.timeout = timeout
        self.client = client

    def __repr__(self) -> str:
        return f"HttpReload({self.target!r}, timeout={self.timeout})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to release (one connection per request, closed after it); idempotent."""

    async def trigger(self) -> None:
        """Send one ``POST``.

        Raises:
            ReloadRejected: status != 200; ``.status`` and ``.body`` (first 200 characters). For
                403/404/405 the message says Prometheus needs ``--web.enable-lifecycle``.
            TargetNotFound: connection refused or the host cannot be reached.
            ReloadTimeout: no complete answer within ``timeout`` seconds.
            ReloadError: any other transport error (reset, malformed response, ...).
        """
        try:
            status, reason, raw = await _exchange(
                "POST",
                self._url,
                self._headers,
                what="reload",
                target=self.target,
                timeout=self.timeout,
                limit=_BODY_LIMIT,
                client=self.client,
            )
        except TimeoutError as exc:
            raise ReloadTimeout(
                f"reload {self.target}: no answer within {self.timeout:g}s; the target may still be "
                "loading a large config (raise --reload-timeout rather than retrying faster)",
                target=self.target,
            ) from exc
        if status == 200:
            log.debug("reload accepted", extra={"url": self.target, "status": status})
            return
        body = raw.decode("utf-8", "replace").strip()[:_BODY_SHOWN]
        hint = (
            "; Prometheus needs --web.enable-lifecycle to serve /-/reload"
            if status in _LIFECYCLE_STATUSES
            else ""
        )
        raise ReloadRejected(
            f"reload {self.target}: received non-200 response {status} {reason}".rstrip()
            + (f": {body}" if body else "")
            + hint,
            target=self.target,
            status=status,
            body=body,
        )


async def fetch_ok(url: str, *, timeout: float) -> None:  # noqa: ASYNC109 - the request budget
    """``GET`` ``url``; return if it answers status 200 (a readiness URL).

    Raises:
        ReloadTimeout, TargetNotFound, ReloadError: as for :meth:`HttpReload.trigger`.
        ReloadRejected: any other status.
    """
    bare, headers = split_credentials(url)
    target = redact_url(url)
    try:
        status, reason, _raw = await _exchange(
            "GET", bare, headers, what="readiness", target=target, timeout=timeout, limit=_BODY_LIMIT
        )
    except TimeoutError as exc:
        raise ReloadTimeout(f"readiness {target}: no answer within {timeout:g}s", target=target) from exc
    if status != 200:
        raise ReloadRejected(
            f"readiness {target}: status {status} {reason}", target=target, status=status, body=""
        )
