"""The runtime-info client: ``GET`` Prometheus' ``/api/v1/status/runtimeinfo`` and read the two
fields that confirm a reload (:mod:`config_reloader.reload.verify`, signal mode and ``run``).

Apart from :mod:`config_reloader.reload.http` (whose request in a worker thread it uses) because only
verification needs it: an ``http``-mode sidecar never loads :mod:`json` and the RFC 3339 parser
before its first reload (~1.5 ms of CPU at the reloader slot's 10 millicores: 0.15 s).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ReloadError, ReloadRejected
from ..logs import redact_url
from .client import HttpClientConfig
from .exchange import BODY_LIMIT, BODY_SHOWN, Request
from .http import _client_headers, _send
from .rfc3339 import parse_rfc3339_ns

__all__ = ["RuntimeInfo", "fetch_runtimeinfo"]


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
    url: str,
    *,
    timeout: float,  # noqa: ASYNC109 - a per-request budget the caller computes from its deadline
    target: str | None = None,
    client: HttpClientConfig | None = None,
) -> RuntimeInfo:
    """``GET`` Prometheus' runtime info and return its reload fields.

    Args:
        url: runtime info URL (``--runtimeinfo-url``); may carry ``user:pass@``.
        timeout: seconds for the whole request.
        target: printable name for errors (default: the redacted URL).
        client: TLS settings and credential files (the reload client's).

    Raises:
        ReloadTimeout, TargetNotFound, ReloadError: as for :meth:`HttpReload.trigger`.
        ReloadRejected: non-2xx status.
        ReloadError: the JSON is not ``{"status": "success", "data": {...}}`` with both fields.

    Source: Prometheus ``web/api/v1`` ``RuntimeInfo`` (``reloadConfigSuccess``, ``lastConfigTime``).
    """
    bare, headers = _client_headers(url, client)
    target = target or redact_url(url)
    request = Request(
        "GET", bare, headers, what="runtime info", target=target, timeout=timeout, limit=None, client=client
    )
    status, _reason, raw = await _send(request)
    if not 200 <= status < 300:
        body = raw[:BODY_LIMIT].decode("utf-8", "replace").strip()[:BODY_SHOWN]
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
