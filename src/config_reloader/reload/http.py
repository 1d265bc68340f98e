"""Reload over HTTP from the event loop: ``POST`` to the reload URL (Prometheus ``/-/reload``), the
readiness check, and the request in a worker thread that the runtime-info client
(:mod:`config_reloader.reload.runtimeinfo`) uses as well.

Facts: Thanos' ``HTTPReloader`` sends a ``POST`` without a
body and counts only status 200 as success; Prometheus answers 403 (older releases 405) on
``/-/reload`` unless started with ``--web.enable-lifecycle``. prometheus-operator bounds the
request with ``--reload-timeout`` (default 30s, prometheus-operator#5349) and disables keep-alive; we do
the same (one new connection per request) so a restarted target never meets a dead pooled connection.

Each request is a blocking :class:`~config_reloader.reload.exchange.Request` (HTTP/1.1 on a new
connection, :mod:`config_reloader.reload.wire`) run in a worker thread (:func:`asyncio.to_thread`):
the same code sends a reload without an event loop (:func:`~config_reloader.reload.exchange.post_reload`).
Neither aiohttp (~21 MiB RSS for one request) nor :mod:`http.client` (~49 M instructions to
import) is loaded (docs/DEPENDENCIES.md).

Credentials: from files (:class:`~config_reloader.reload.client.HttpClientConfig`, re-read at every
attempt) or, discouraged because every process can read ``/proc/PID/cmdline``, in the URL
(``http://user:pass@host/...``). Neither is ever part of an error message, a log field or a label
(:func:`config_reloader.logs.redact_url`). ``https`` URLs use :mod:`config_reloader.reload.tls`
(imported only for them); the certificate check is described in
:mod:`config_reloader.reload.client`.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Self

from ..errors import ReloadRejected
from ..logs import redact_url
from . import _require_positive_seconds
from .client import HttpClientConfig
from .exchange import BODY_LIMIT, Request, check_reload_answer, client_headers, reload_request
from .urls import split_credentials
from .wire import split_url

__all__ = ["HttpReload", "check_url", "fetch_ok", "split_credentials"]

log = logging.getLogger(__name__)

_described: set[tuple[str, HttpClientConfig | None]] = set()


def _client_headers(url: str, client: HttpClientConfig | None) -> tuple[str, dict[str, str]]:
    """:func:`~config_reloader.reload.exchange.client_headers`; for ``https`` also log, once per
    process and URL, how the certificate is checked.

    Raises:
        ValueError: as :func:`split_credentials`, or credentials given twice.
    """
    bare, headers = client_headers(url, client)
    https, host = split_url(bare)[:2]
    target = redact_url(url)
    if https and (target, client) not in _described:
        _described.add((target, client))
        how = (client or HttpClientConfig()).describe_tls(host)
        log.info("https target: " + how.split(" (")[0], extra={"url": target, "tls": how})
    return bare, headers


def check_url(url: str, client: HttpClientConfig | None) -> None:
    """Check ``url`` with ``client`` once, at construction: the URL's syntax, credentials not
    given twice, and (``https``) log how its certificate is checked, once per process.

    Raises:
        ValueError: as :func:`split_credentials`, or credentials both in the URL and in ``client``.
    """
    _client_headers(url, client)


async def _send(request: Request) -> tuple[int, str, bytes]:
    """:meth:`Request.send` in a worker thread, abandoned when the event loop stops waiting
    (``timeout`` or cancellation): that shuts the socket down so the thread returns at once.

    Raises:
        ReloadTimeout, TargetNotFound, ReloadError: as :meth:`Request.send`.
    """
    try:
        async with asyncio.timeout(request.timeout):
            return await asyncio.to_thread(request.send)
    except TimeoutError as exc:  # the event loop's deadline; the thread's own raises ReloadTimeout
        raise request.timed_out() from exc
    finally:
        request.abandon()  # a no-op when the thread has finished


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
                403 the message says Prometheus needs ``--web.enable-lifecycle``, for 404 to
                check the URL's path (route prefix).
            TargetNotFound: connection refused or the host cannot be reached.
            ReloadTimeout: no complete answer within ``timeout`` seconds.
            ReloadError: any other transport error (reset, malformed response, ...).
        """
        request = reload_request(
            self._url, self._headers, target=self.target, timeout=self.timeout, client=self.client
        )
        status, reason, raw = await _send(request)
        check_reload_answer(self.target, status, reason, raw)
        log.debug("reload accepted", extra={"url": self.target, "status": status})


async def fetch_ok(url: str, *, timeout: float) -> None:  # noqa: ASYNC109 - the request budget
    """``GET`` ``url``; return if it answers status 200 (a readiness URL).

    Raises:
        ReloadTimeout, TargetNotFound, ReloadError: as for :meth:`HttpReload.trigger`.
        ReloadRejected: any other status.
    """
    bare, headers = split_credentials(url)
    target = redact_url(url)
    request = Request(
        "GET", bare, headers, what="readiness", target=target, timeout=timeout, limit=BODY_LIMIT
    )
    status, reason, _raw = await _send(request)
    if status != 200:
        raise ReloadRejected(
            f"readiness {target}: status {status} {reason}", target=target, status=status, body=""
        )
