"""Shared fixtures for tests/integration/test_reloader*.py (no tests here): a running
:class:`Reloader` on real inotify against a real HTTP :class:`RecordingEndpoint` on 127.0.0.1.

Import ``start_reloader_fixture`` into a test module to get the ``start_reloader`` fixture."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from config_reloader.promtext import Registry as CollectorRegistry
from config_reloader.reconcile import Reloader, ReloaderOptions
from config_reloader.reload.retry import RetryPolicy
from config_reloader.testing import wait_until

FAST_RETRY = RetryPolicy(initial=0.05, maximum=0.4, jitter=0.0)


class Running:
    """A Reloader running in a task; ``metric(name)`` reads its registry."""

    def __init__(self, reloader: Reloader, task: asyncio.Task[None]) -> None:
        self.reloader = reloader
        self.task = task

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        v = self.reloader.registry.get_sample_value(name, labels or {})
        return 0.0 if v is None else v

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture(name="start_reloader")
async def start_reloader_fixture() -> AsyncIterator[Callable[..., Any]]:
    """``await start_reloader(options, wait_ready=True, **reloader_kwargs) -> Running``."""
    running: list[Running] = []

    async def start(
        options: ReloaderOptions, *, wait_ready: bool = True, initial_reload: bool = True, **kw: Any
    ) -> Running:
        kw.setdefault("retry", FAST_RETRY)
        kw.setdefault("registry", CollectorRegistry())
        kw.setdefault("env", {})
        r = Reloader(options, **kw)
        task = asyncio.create_task(r.run(initial_reload=initial_reload))
        run = Running(r, task)
        running.append(run)
        if wait_ready:

            def ready() -> bool:
                if task.done():
                    task.result()  # the loop died: raise its error instead of timing out
                return r.ready

            await wait_until(ready, timeout=15)
        return run

    yield start
    for run in running:
        await run.stop()
