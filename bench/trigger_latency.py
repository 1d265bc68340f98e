"""Round trip of ``HttpReload.trigger`` (a new connection per reload, in a worker thread) against a
200-answering asyncio server in another process on 127.0.0.1.

    python bench/trigger_latency.py [--requests 1000]

Run it with two venvs' interpreters in turn to compare two builds (``/work/main/.venv/bin/python
bench/trigger_latency.py``); each run warms up with 50 reloads, then prints the median and p99 in
µs. The server runs in its own process so that its CPU is not the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from config_reloader.reload.http import HttpReload

SERVER = r"""
import asyncio

async def serve(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


async def _measure(port: int, n: int) -> list[float]:
    action = HttpReload(f"http://127.0.0.1:{port}/-/reload", timeout=5)
    for _ in range(50):
        await action.trigger()
    out = []
    for _ in range(n):
        start = time.perf_counter_ns()
        await action.trigger()
        out.append((time.perf_counter_ns() - start) / 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000)
    a = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        times = sorted(asyncio.run(_measure(port, a.requests)))
    finally:
        server.terminate()
        server.wait(10)
    median, p99 = statistics.median(times), times[int(len(times) * 0.99)]
    print(f"{sys.executable}: {a.requests} reloads, median {median:.0f} µs, p99 {p99:.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
