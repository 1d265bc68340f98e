"""When a child counts as ready: a readiness probe answers (``--ready-url``: ``GET`` answers 200,
or an injected async predicate), or ``--ready-delay`` seconds after it started, or at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from config_reloader.reload.verify import url_ready

if TYPE_CHECKING:
    from config_reloader.supervise.options import SuperviseOptions
    from config_reloader.supervise.process import Child

__all__ = ["READY_POLL_INTERVAL", "READY_PROBE_TIMEOUT", "wait_until_ready"]

READY_POLL_INTERVAL = 0.05
"""Seconds between readiness probes."""
READY_PROBE_TIMEOUT = 2.0
"""Seconds one ``--ready-url`` probe may take."""


async def wait_until_ready(
    child: Child, options: SuperviseOptions, probe: Callable[[], Awaitable[bool]] | None = None
) -> None:
    """Return once ``child`` is ready by ``probe`` (default: ``options.ready_url``), or
    ``options.ready_delay`` seconds from now, or at once; or as soon as the child is gone while
    probing (the caller checks ``child.alive``)."""
    url_probe = url_ready(options.ready_url, timeout=READY_PROBE_TIMEOUT) if options.ready_url else None
    check = probe or url_probe
    try:
        if check is not None:
            while child.alive and not await check():  # noqa: ASYNC110 - polling a URL
                await asyncio.sleep(READY_POLL_INTERVAL)
        elif options.ready_delay:
            await asyncio.sleep(options.ready_delay)
    finally:
        if url_probe is not None:
            await url_probe.aclose()
