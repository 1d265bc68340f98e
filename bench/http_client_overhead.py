"""HTTP client overhead of a reload: aiohttp vs httpx, POST round trip on loopback + import time.

The reload request is most of our latency budget (docs/design.md, "Dependencies"), so the client
is chosen by measuring.
The server is a plain aiohttp app answering ``POST /-/reload`` with 200, in a separate process so
its CPU time is not charged to the client's event loop. Variants, interleaved in rounds so that a
load spike from other processes hits all of them alike:

- ``aiohttp keep-alive``: one ``ClientSession``, pooled connection.
- ``aiohttp new conn``: ``TCPConnector(force_close=True)`` (what ``HttpReload`` does, like
  prometheus-config-reloader which disables keep-alive).
- ``HttpReload.trigger``: our action end to end (aiohttp new conn + timeout + status handling).
- ``httpx keep-alive``: one ``AsyncClient``.
- ``httpx new conn``: ``AsyncClient(limits=Limits(max_keepalive_connections=0))``.

Import time: wall time of ``python -c "import X"`` minus ``python -c "pass"``, the minimum over
runs (on a shared, loaded machine the minimum is the stable estimate of the intrinsic cost; medians
swung by 2x between runs here).

Usage: ``python bench/http_client_overhead.py [--requests 2000] [--rounds 10] [--imports 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

SERVER = r"""
import asyncio, sys
from aiohttp import web

async def reload(request):
    await request.read()
    return web.Response(text="")

async def main():
    app = web.Application()
    app.router.add_post("/-/reload", reload)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def import_time(module: str, runs: int) -> float:
    """Minimum seconds to import ``module`` in a fresh interpreter, net of interpreter start-up."""

    def once(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t

    bare = min(once("pass") for _ in range(runs))
    return min(once(f"import {module}") for _ in range(runs)) - bare


async def run(requests: int, rounds: int) -> dict[str, list[float]]:
    import aiohttp
    import httpx

    from config_reloader.reload.http import HttpReload

    server = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER, stdout=subprocess.PIPE)
    assert server.stdout is not None
    port = int((await server.stdout.readline()).decode())
    url = f"http://127.0.0.1:{port}/-/reload"

    aio_keep = aiohttp.ClientSession()
    aio_new = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    hx_keep = httpx.AsyncClient()
    hx_new = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
    ours = HttpReload(url, timeout=5)

    async def aio(session: aiohttp.ClientSession) -> None:
        async with session.post(url) as r:
            await r.read()
            assert r.status == 200

    async def hx(client: httpx.AsyncClient) -> None:
        r = await client.post(url)
        assert r.status_code == 200

    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "aiohttp keep-alive": lambda: aio(aio_keep),
        "aiohttp new conn": lambda: aio(aio_new),
        "HttpReload.trigger": ours.trigger,
        "httpx keep-alive": lambda: hx(hx_keep),
        "httpx new conn": lambda: hx(hx_new),
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    per_round = max(1, requests // rounds)
    try:
        for fn in variants.values():  # warm-up: connections, code paths
            for _ in range(50):
                await fn()
        for _ in range(rounds):
            for name, fn in variants.items():
                for _ in range(per_round):
                    t = time.perf_counter()
                    await fn()
                    samples[name].append(time.perf_counter() - t)
    finally:
        await aio_keep.close()
        await aio_new.close()
        await hx_keep.aclose()
        await hx_new.aclose()
        await ours.aclose()
        server.kill()
        await server.wait()
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="requests per variant (default 2000)")
    ap.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    ap.add_argument("--imports", type=int, default=20, help="interpreter runs per import measurement")
    args = ap.parse_args()

    import aiohttp
    import httpx

    print(f"python {sys.version.split()[0]}  aiohttp {aiohttp.__version__}  httpx {httpx.__version__}")
    samples = asyncio.run(run(args.requests, args.rounds))
    base = statistics.median(samples["aiohttp keep-alive"])
    print(f"\nPOST round trip on 127.0.0.1 ({len(samples['aiohttp keep-alive'])} requests per variant)")
    print(f"{'variant':<22}{'median µs':>11}{'p99 µs':>10}{'vs aiohttp keep-alive':>24}")
    for name, vals in samples.items():
        med = statistics.median(vals)
        print(f"{name:<22}{med * 1e6:>11.0f}{pct(vals, 0.99) * 1e6:>10.0f}{med / base:>23.2f}x")
    print(f"\nimport time, net of interpreter start-up (minimum of {args.imports} runs)")
    for module in ("aiohttp", "httpx"):
        print(f"{module:<22}{import_time(module, args.imports) * 1e3:>9.1f} ms")


if __name__ == "__main__":
    main()
