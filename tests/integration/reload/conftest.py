"""Fixtures for reload integration tests: plain aiohttp servers on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerFactory = Callable[[dict[tuple[str, str], Handler]], Awaitable[str]]


@pytest.fixture
async def http_server() -> AsyncIterator[ServerFactory]:
    """``await http_server({("POST", "/-/reload"): handler})`` -> base URL ``http://127.0.0.1:PORT``."""
    runners: list[web.AppRunner] = []

    async def start(routes: dict[tuple[str, str], Handler]) -> str:
        app = web.Application()
        for (method, path), handler in routes.items():
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for r in runners:
        await r.cleanup()
