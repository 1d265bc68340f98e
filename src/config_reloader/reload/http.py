"""Reload over HTTP: ``POST`` to the reload URL (Prometheus ``/-/reload``), and the runtime-info
client used by :mod:`config_reloader.reload.verify`.

Facts (research reloader-anchors §1.6, §2.1): Thanos' ``HTTPReloader`` sends a ``POST`` without a
body and counts only status 200 as success; Prometheus answers 403 (older releases 405) on
``/-/reload`` unless started with ``--web.enable-lifecycle``. prometheus-operator bounds the
request with ``--reload-timeout`` (default 30s, PO#5349) and disables keep-alive; we do the same
(``force_close``) so a restarted target never meets a dead pooled connection.

Credentials in the URL (``http://user:pass@host/...``) are sent as HTTP basic auth and are never
part of an error message, a log field or a label (:func:`config_reloader.logs.redact_url`).
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from ..errors import ReloadError, ReloadRejected, ReloadTimeout, TargetNotFound
from ..logs import redact_url
from . import _require_positive_seconds

__all__ = ["HttpReload", "RuntimeInfo", "fetch_runtimeinfo", "split_credentials"]

log = logging.getLogger(__name__)

_BODY_LIMIT = 4096  # bytes read from an error response
_BODY_SHOWN = 200  # characters of it kept in messages
_LIFECYCLE_STATUSES = frozenset({403, 404, 405})


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """Split ``user:pass@`` out of ``url``.

    Returns:
        ``(url_without_credentials, headers)``: ``headers`` holds ``Authorization: Basic ...``
        (RFC 7617, UTF-8) when the URL had credentials, else is empty. Percent-escapes in user and
        password are decoded.

    Raises:
        ValueError: ``url`` is not an ``http``/``https`` URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {redact_url(url)!r}")
    if parts.username is None and parts.password is None:
        return url, {}
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
    return bare, {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def _session() -> aiohttp.ClientSession:
    # One connection per request (no keep-alive), like prometheus-config-reloader.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


class _Client:
    """A lazily created session, owned or injected; translates aiohttp errors at the edge."""

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self._session = session
        self._owned = session is None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owned and self._session.closed):
            self._session = _session()
        return self._session

    async def aclose(self) -> None:
        if self._owned and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owned:
            self._session = None


def _translate(exc: BaseException, *, what: str, target: str) -> ReloadError:
    """Map an aiohttp/OS error to our tree (never embeds credentials: ``target`` is redacted)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        refused = exc.os_error.errno == errno.ECONNREFUSED if exc.os_error else False
        why = "connection refused" if refused else f"cannot connect ({exc.os_error.strerror or exc})"
        return TargetNotFound(f"{what} {target}: {why}; is the target running and listening?", target=target)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return ReloadError(f"{what} {target}: {type(exc).__name__}: {exc}", target=target)
    raise TypeError(exc)  # pragma: no cover - only called with the types above


class HttpReload:
    """``POST`` to a reload URL; success is status exactly 200 (Thanos ``HTTPReloader``).

    Args:
        url: the reload URL (``--reload-url``, e.g. ``http://127.0.0.1:9090/-/reload``); may carry
            ``user:pass@`` for basic auth.
        timeout: seconds for the whole request, connect to last body byte (``--reload-timeout``).
        session: an ``aiohttp.ClientSession`` to reuse (not closed by us). ``None``: one session
            without keep-alive is created on first use and reused until :meth:`aclose`.

    Raises:
        ValueError: ``url`` is not http(s) with a host, or ``timeout`` is not positive.

    Use ``async with HttpReload(...)`` or call :meth:`aclose` so the owned session is closed.
    """

    method = "http"

    def __init__(self, url: str, *, timeout: float, session: aiohttp.ClientSession | None = None) -> None:
        _require_positive_seconds("timeout", timeout)
        self._url, self._headers = split_credentials(url)
        self.target = redact_url(url)
        self.timeout = timeout
        self._client = _Client(session)

    def __repr__(self) -> str:
        return f"HttpReload({self.target!r}, timeout={self.timeout})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if we created it (idempotent; a later trigger opens a new one)."""
        await self._client.aclose()

    async def trigger(self) -> None:
        """Send one ``POST``.

        Raises:
            ReloadRejected: status != 200; ``.status`` and ``.body`` (first 200 characters). For
                403/404/405 the message says Prometheus needs ``--web.enable-lifecycle``.
            TargetNotFound: connection refused or the host cannot be reached.
            ReloadTimeout: no complete answer within ``timeout`` seconds.
            ReloadError: any other transport error (reset, malformed response, ...).
        """
        session = self._client.get()
        try:
            async with asyncio.timeout(self.timeout):
                async with session.post(self._url, headers=self._headers, allow_redirects=False) as resp:
                    status = resp.status
                    reason = resp.reason or ""
                    raw = await resp.content.read(_BODY_LIMIT)
        except TimeoutError as exc:
            raise ReloadTimeout(
                f"reload {self.target}: no answer within {self.timeout:g}s; the target may still be "
                "loading a large config (raise --reload-timeout rather than retrying faster)",
                target=self.target,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise _translate(exc, what="reload", target=self.target) from exc
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


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """The two fields of Prometheus' ``GET /api/v1/status/runtimeinfo`` that confirm a reload.

    Attributes:
        reload_config_success: ``data.reloadConfigSuccess``.
        last_config_time_ns: ``data.lastConfigTime`` (RFC 3339, nanoseconds) as integer
            nanoseconds since the Unix epoch (Go's zero time gives a large negative number).
        last_config_time: the raw string, for messages.
    """

    reload_config_success: bool
    last_config_time_ns: int
    last_config_time: str


async def fetch_runtimeinfo(
    session: aiohttp.ClientSession,
    url: str,
    *,
    timeout: float,  # noqa: ASYNC109 - a per-request budget the caller computes from its deadline
    target: str | None = None,
) -> RuntimeInfo:
    """``GET`` Prometheus' runtime info and return its reload fields.

    Args:
        session: the session to use.
        url: runtime info URL (``--runtimeinfo-url``); may carry ``user:pass@``.
        timeout: seconds for the whole request.
        target: printable name for errors (default: the redacted URL).

    Raises:
        ReloadTimeout, TargetNotFound, ReloadError: as for :meth:`HttpReload.trigger`.
        ReloadRejected: non-2xx status.
        ReloadError: the JSON is not ``{"status": "success", "data": {...}}`` with both fields.

    Source: Prometheus ``web/api/v1`` ``RuntimeInfo`` (``reloadConfigSuccess``, ``lastConfigTime``).
    """
    from .verify import parse_rfc3339_ns

    bare, headers = split_credentials(url)
    target = target or redact_url(url)
    try:
        async with asyncio.timeout(timeout):
            async with session.get(bare, headers=headers, allow_redirects=False) as resp:
                status = resp.status
                raw = await resp.read()
    except TimeoutError as exc:
        raise ReloadTimeout(f"runtime info {target}: no answer within {timeout:g}s", target=target) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise _translate(exc, what="runtime info", target=target) from exc
    if not 200 <= status < 300:
        body = raw[:_BODY_LIMIT].decode("utf-8", "replace").strip()[:_BODY_SHOWN]
        raise ReloadRejected(
            f"runtime info {target}: status {status}" + (f": {body}" if body else ""),
            target=target,
            status=status,
            body=body,
        )
    try:
        doc: Any = json.loads(raw)
        if doc.get("status") != "success":
            raise ValueError(f"status is {doc.get('status')!r}, not 'success'")
        data = doc["data"]
        success = data["reloadConfigSuccess"]
        when = data["lastConfigTime"]
        if not isinstance(success, bool) or not isinstance(when, str):
            raise ValueError("reloadConfigSuccess must be a bool and lastConfigTime a string")
        when_ns = parse_rfc3339_ns(when)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReloadError(f"runtime info {target}: unexpected answer: {exc}", target=target) from exc
    return RuntimeInfo(success, when_ns, when)
