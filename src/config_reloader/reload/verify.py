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
import calendar
import logging
import re
import time
from types import TracebackType
from typing import Self

from ..errors import ReloadError, ReloadTimeout, VerifyFailed
from ..logs import redact_url
from . import ReloadAction, _require_positive_seconds
from .http import RuntimeInfo, fetch_runtimeinfo

__all__ = ["VerifiedReload", "parse_rfc3339_ns", "runtimeinfo_ready"]

log = logging.getLogger(__name__)

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)


def parse_rfc3339_ns(text: str) -> int:
    """Parse an RFC 3339 timestamp with up to nanosecond precision (Go ``time.RFC3339Nano``).

    Returns:
        integer nanoseconds since the Unix epoch (exact; no float rounding). Go's zero time
        ``0001-01-01T00:00:00Z`` ("never loaded") parses to a large negative number.

    Raises:
        ValueError: not RFC 3339 (the text is quoted in the message).
    """
    m = _RFC3339.match(text.strip())
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        raise ValueError(f"not an RFC 3339 timestamp (field out of range): {text!r}")
    frac = int((m.group(7) or "").ljust(9, "0") or "0")
    offset = 0
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        if m.group(9) == "-":
            offset = -offset
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return seconds * 1_000_000_000 + frac


def runtimeinfo_ready(runtimeinfo_url: str, *, timeout: float = 5.0) -> ReadyCheck:
    """A readiness gate for :class:`~config_reloader.reload.signal.SignalReload`: the target is
    ready when its runtime info answers ``{"status": "success", ...}``.

    Prometheus serves the API only once its handlers (including the SIGHUP one, since
    prometheus/prometheus#14924) are installed, so this keeps a SIGHUP out of its start-up window
    (rule R8 in docs/design.md). Any error reads as "not ready". Call ``aclose()`` on the result when done.
    """
    return ReadyCheck(runtimeinfo_url, timeout=timeout)


class ReadyCheck:
    """Callable readiness gate returned by :func:`runtimeinfo_ready`."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout

    async def __call__(self) -> bool:
        try:
            await fetch_runtimeinfo(self.url, timeout=self.timeout)
        except ReloadError as exc:
            log.debug("target not ready", extra={"url": redact_url(self.url), "err": str(exc)})
            return False
        return True

    async def aclose(self) -> None:
        """Nothing to release (one connection per request); kept for callers' life cycle."""


class VerifiedReload:
    """Wrap a reload action with a before/after runtime-info check.

    Args:
        inner: the action that triggers the reload (typically :class:`SignalReload`).
        runtimeinfo_url: ``--runtimeinfo-url``, e.g. ``http://127.0.0.1:9090/api/v1/status/runtimeinfo``.
        timeout: seconds for the whole attempt: first read, trigger and confirmation.
        poll_interval: seconds between runtime-info reads after the trigger.

    Raises:
        ValueError: ``timeout`` or ``poll_interval`` not positive.
    """

    def __init__(
        self,
        inner: ReloadAction,
        *,
        runtimeinfo_url: str,
        timeout: float,
        poll_interval: float = 0.1,
    ) -> None:
        _require_positive_seconds("timeout", timeout)
        _require_positive_seconds("poll_interval", poll_interval)
        self.inner = inner
        self.method = inner.method
        self.url = runtimeinfo_url
        self.target = redact_url(runtimeinfo_url)
        self.timeout = timeout
        self.poll_interval = poll_interval

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
        return await fetch_runtimeinfo(self.url, timeout=remaining, target=self.target)

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
