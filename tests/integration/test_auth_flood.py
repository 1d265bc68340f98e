"""A flood of wrong basic-auth passwords (bcrypt cost 12) against ``watch``'s status server must
not delay reloads nor ``/healthz`` with the right password: bcrypt runs on its own bounded,
lower-priority thread, the excess is answered 429 at once. Real processes, real HTTP."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import sys
import time
from pathlib import Path

import bcrypt
import childproc

from config_reloader.testing import RecordingEndpoint, atomic_replace, wait_until

FLOOD_CLIENTS = 40

# 40 threads, each a client sending GET /metrics with a new wrong password every time (the
# worst case: nothing can be answered from memory). Prints the status counts when stdin closes.
FLOOD = r"""
import base64, collections, http.client, json, os, sys, threading
port = int(sys.argv[1]); clients = int(sys.argv[2])
counts = collections.Counter(); stop = threading.Event(); lock = threading.Lock()
def client(i):
    n = 0
    while not stop.is_set():
        n += 1
        pw = f"wrong-{i}-{n}-{os.urandom(4).hex()}"
        token = base64.b64encode(f"prom:{pw}".encode()).decode()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("GET", "/metrics", headers={"Authorization": "Basic " + token})
            status = c.getresponse().status
            c.close()
        except OSError:
            status = 0
        with lock:
            counts[status] += 1
threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
for t in threads: t.start()
print("started", flush=True)
sys.stdin.read()
stop.set()
for t in threads: t.join(60)
with lock:
    print(json.dumps({str(k): v for k, v in counts.items()}), flush=True)
"""


def _auth(user: str, pw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, float]:
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status, time.monotonic() - t0
    finally:
        c.close()


async def test_wrong_password_flood_delays_neither_reloads_nor_healthz(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1\n")
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"scrape", bcrypt.gensalt(12)).decode()
    web.write_text(f"basic_auth_users:\n  prom: {hashed}\n")
    async with RecordingEndpoint([str(cfg)]) as ep:
        proc = await childproc.exec_async(
            sys.executable, "-m", "config_reloader", "watch", f"--config-file={cfg}",
            f"--reload-url={ep.reload_url}", "--delay-interval=0", "--log-format=json",
            "--listen-address=127.0.0.1:0", f"--web-config-file={web}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert proc.stdout is not None
        flood: asyncio.subprocess.Process | None = None
        try:
            port = 0
            async with asyncio.timeout(30):
                while not port:
                    line = await proc.stdout.readline()
                    assert line, "watch exited"
                    if b"status server listening" in line:
                        port = int(json.loads(line)["port"])
            await wait_until(lambda: any(r.contents.get(str(cfg)) == b"v1\n" for r in ep.successful), 30)
            # A probe's password was checked once before the flood (kubelet probes every few
            # seconds from the container's start).
            assert (await asyncio.to_thread(_get, port, "/healthz", _auth("prom", "scrape")))[0] == 200

            flood = await childproc.exec_async(
                sys.executable, "-c", FLOOD, str(port), str(FLOOD_CLIENTS),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert flood.stdout is not None and (await flood.stdout.readline()).strip() == b"started"
            await asyncio.sleep(0.5)  # not a synchronisation: lets the flood reach its steady state

            probes = [
                await asyncio.to_thread(_get, port, "/healthz", _auth("prom", "scrape")) for _ in range(5)
            ]
            assert all(status == 200 for status, _ in probes), probes
            worst_probe = max(took for _, took in probes)

            t0 = time.monotonic()
            atomic_replace(cfg, b"v2\n")
            await wait_until(lambda: any(r.contents.get(str(cfg)) == b"v2\n" for r in ep.successful), 60)
            reload_latency = time.monotonic() - t0

            unknown_pw_status, unknown_took = await asyncio.to_thread(
                _get, port, "/metrics", _auth("prom", "never-seen")
            )
        finally:
            counts: dict[int, int] = {}
            if flood is not None:
                async with asyncio.timeout(90):
                    out, _ = await flood.communicate(b"")
                counts = {int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}
            proc.terminate()
            async with asyncio.timeout(10):
                await proc.wait()
    print(f"\nflood {counts}: /healthz worst {worst_probe:.3f} s, reload {reload_latency:.3f} s")
    assert worst_probe < 1.0, f"/healthz with the right password took {worst_probe:.2f}s under the flood"
    assert reload_latency < 5.0, f"a config change took {reload_latency:.2f}s to reload under the flood"
    # The excess was refused at once (429), the rest checked and refused (401); nothing got in.
    assert counts.get(429, 0) > 0 and counts.get(401, 0) > 0 and counts.get(200, 0) == 0, counts
    assert unknown_pw_status in (401, 429) and unknown_took < 1.0, (unknown_pw_status, unknown_took)
