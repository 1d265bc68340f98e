"""Confirm a reload through Prometheus' runtime info (Thanos ``pkg/reloader/tracker.go`` semantics).

Facts: read ``reloadConfigSuccess`` and ``lastConfigTime`` before
the trigger; afterwards the reload is confirmed once ``reloadConfigSuccess`` is true **and**
``lastConfigTime`` is later than before; if the target was healthy before and now reports
``reloadConfigSuccess=false`` the new config was rejected (fail fast). Thanos polls every second;
we poll every 100 ms by default because a reload of a small config takes milliseconds.
Prometheus only moves ``lastConfigTime`` on a successful load, and reports it in whole seconds
(measured against Prometheus 2.x from Debian 12): the trigger is delayed to the next wall-clock
second when the previous load happened in the current one, otherwise the reload could not be
told apart from "no reload".
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import TracebackType
from typing import Self

from ..errors import ReloadError, ReloadTimeout, VerifyFailed
from ..logs import redact_url
from . import ReloadAction, _require_positive_seconds
from .client import HttpClientConfig
from .http import check_url, fetch_ok
from .rfc3339 import parse_rfc3339_ns
from .runtimeinfo import RuntimeInfo, fetch_runtimeinfo

__all__ = [
    "ReadyCheck",
    "UrlReadyCheck",
    "VerifiedReload",
    "parse_rfc3339_ns",
    "runtimeinfo_ready",
    "url_ready",
]

log = logging.getLogger(__name__)


def runtimeinfo_ready(
    runtimeinfo_url: str, *, timeout: float = 5.0, client: HttpClientConfig | None = None
) -> ReadyCheck:
    """A readiness gate for :class:`~config_reloader.reload.signal.SignalReload`: the target is
    ready when its runtime info answers ``{"status": "success", ...}``.

    Prometheus serves the API only once its handlers (including the SIGHUP one, since
    prometheus/prometheus#14924) are installed, so this keeps a SIGHUP out of its start-up window
    (rule R8 in docs/design.md). Any error reads as "not ready". ``client``: TLS settings and
    credential files (the reload client's). Call ``aclose()`` on the result when done.
    """
    return ReadyCheck(runtimeinfo_url, timeout=timeout, client=client)


def url_ready(url: str, *, timeout: float = 2.0) -> UrlReadyCheck:
    """A readiness probe: ready when a ``GET`` on ``url`` answers status 200 within ``timeout``
    seconds (``run --ready-url``). Any error reads as "not ready"."""
    return UrlReadyCheck(url, timeout=timeout)


class ReadyCheck:
    """The readiness probe (an async predicate): ready when :meth:`_fetch` succeeds; returned by
    :func:`runtimeinfo_ready` (Prometheus' runtime info answers) and, as :class:`UrlReadyCheck`,
    by :func:`url_ready`."""

    def __init__(self, url: str, *, timeout: float, client: HttpClientConfig | None = None) -> None:
        check_url(url, client)
        self.url = url
        self.timeout = timeout
        self.client = client

    async def _fetch(self) -> None:
        await fetch_runtimeinfo(self.url, timeout=self.timeout, client=self.client)

    async def __call__(self) -> bool:
        try:
            await self._fetch()
        except ReloadError as exc:
            log.debug("target not ready", extra={"url": redact_url(self.url), "err": str(exc)})
            return False
        return True

    async def aclose(self) -> None:
        """Nothing to release (one connection per request); kept for callers' life cycle."""


class UrlReadyCheck(ReadyCheck):
    """:class:`ReadyCheck` of :func:`url_ready`: ``GET`` answers 200."""

    async def _fetch(self) -> None:
        await fetch_ok(self.url, timeout=self.timeout)


class VerifiedReload:
    """Wrap a reload action with a before/after runtime-info check.

    Args:
        inner: the action that triggers the reload (typically :class:`SignalReload`).
        runtimeinfo_url: ``--runtimeinfo-url``, e.g. ``http://127.0.0.1:9090/api/v1/status/runtimeinfo``.
        timeout: seconds for the whole attempt: first read, trigger and confirmation.
        poll_interval: seconds between runtime-info reads after the trigger.
        client: TLS settings and credential files for the runtime-info reads.

    Raises:
        ValueError: ``timeout`` or ``poll_interval`` not positive, or a bad ``runtimeinfo_url``
            (see :func:`~config_reloader.reload.http.check_url`).
    """

    def __init__(
        self,
        inner: ReloadAction,
        *,
        runtimeinfo_url: str,
        timeout: float,
        poll_interval: float = 0.1,
        client: HttpClientConfig | None = None,
    ) -> None:
        _require_positive_seconds("timeout", timeout)
        _require_positive_seconds("poll_interval", poll_interval)
        check_url(runtimeinfo_url, client)  # syntax, credentials once, the TLS choice logged at start
        self.inner = inner
        self.method = inner.method
        self.url = runtimeinfo_url
        self.target = redact_url(runtimeinfo_url)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.client = client

    def __repr__(self) -> str:
        return f"VerifiedReload({self.inner!r}, runtimeinfo_url={self.target!r}, timeout={self.timeout})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the inner action (if it has ``aclose``); runtime-info reads hold no connection."""
        inner_close = getattr(self.inner, "aclose", None)
        if inner_close is not None:
            await inner_close()

    async def _info(self, deadline: float) -> RuntimeInfo:
        remaining = max(0.001, deadline - asyncio.get_running_loop().time())
        return await fetch_runtimeinfo(self.url, timeout=remaining, target=self.target, client=self.client)

    async def _wait_for_next_second(self, before: RuntimeInfo, deadline: float) -> None:
        """Prometheus reports ``lastConfigTime`` in whole seconds (it keeps the load time as a Unix
        seconds gauge), so a reload finishing in the same wall-clock second as the previous load
        would look like "no reload". When ``before`` has second resolution and the wall clock is
        still in that second, wait for the next second (at most 1 s; the target shares our clock
        as a sidecar or child) so any successful reload yields a strictly later time."""
        if before.last_config_time_ns % 1_000_000_000:
            return  # sub-second resolution: any later load is distinguishable
        next_second_ns = before.last_config_time_ns + 1_000_000_000
        wait = (next_second_ns - time.time_ns()) / 1e9
        if 0 < wait <= 1.0:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(min(wait + 0.005, max(0.0, deadline - loop.time())))

    async def trigger(self) -> None:
        """Read runtime info, trigger ``inner``, poll until the reload is confirmed.

        Raises:
            VerifyFailed: the target reports ``reloadConfigSuccess=false`` after the trigger (at
                once if it was true before; otherwise at the deadline).
            ReloadTimeout: ``lastConfigTime`` did not move within ``timeout`` seconds.
            ReloadError subclasses: from the runtime-info reads or from ``inner``.
        """
        deadline = asyncio.get_running_loop().time() + self.timeout
        before = await self._info(deadline)
        await self._wait_for_next_second(before, deadline)
        await self.inner.trigger()
        last = before
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    last = await self._info(deadline)
                    if last.reload_config_success and last.last_config_time_ns > before.last_config_time_ns:
                        log.debug(
                            "reload confirmed by runtime info",
                            extra={"url": self.target, "last_config_time": last.last_config_time},
                        )
                        return
                    if before.reload_config_success and not last.reload_config_success:
                        raise VerifyFailed(
                            f"{self.target}: configuration reload has failed (reloadConfigSuccess=false, "
                            f"last successful reload at {last.last_config_time}); see the target's log",
                            target=self.target,
                        )
                    await asyncio.sleep(self.poll_interval)
        except (TimeoutError, ReloadTimeout) as exc:
            if not last.reload_config_success:
                raise VerifyFailed(
                    f"{self.target}: reload not confirmed within {self.timeout:g}s: reloadConfigSuccess is "
                    f"still false (last successful reload at {last.last_config_time})",
                    target=self.target,
                ) from exc
            raise ReloadTimeout(
                f"{self.target}: reload not confirmed within {self.timeout:g}s: lastConfigTime stayed at "
                f"{last.last_config_time}",
                target=self.target,
            ) from exc
