#!/usr/bin/env python3
"""Latency from a config change to a real Prometheus (child of ``config-reloader run``) having
reloaded it.

    python bench/run_reload_latency.py              # 20 changes per peer
    python bench/run_reload_latency.py --changes 50

One change = an atomic write (temp + fsync + rename + fsync dir) of a new rule file into the watched
rules directory, each with a new recording rule name. "Reloaded" = the new rule is listed by
``/api/v1/rules`` (polled every 2 ms, so add up to ~2 ms + one HTTP round trip of observation cost).

Peers, measured in the same run, each with ``--delay-interval=0``:
  * ``run signal``  : ``config-reloader run --reload-method signal`` (SIGHUP to the child, gated on
                      readiness, verified through runtime info) — the figure asked for.
  * ``run sig-nover``: the same without ``--runtimeinfo-url`` (no verification).
  * ``run http``    : ``config-reloader run --reload-method http`` (POST /-/reload, verified).
  * ``direct HUP``  : reference floor: the benchmark sends SIGHUP to Prometheus itself right after
                      the write (no watching, no verification): Prometheus' own reload time.
Medians and p90 are printed, with the ratio to the reference floor.

Writers (``--writer``): ``staging`` (default) creates the temp file in a staging dir on the same
filesystem and renames it into the watched dir, so the watcher sees one complete file appear;
``in-dir`` creates the temp file inside the watched dir, which with ``--delay-interval=0`` is
picked up as a change of its own (the temp file is content too), so the real change can come
right after a reload and wait for verification's next second (see below).

Changes are ``--spacing`` seconds apart (default 1.1 s). Verification needs a strictly later
``lastConfigTime``, which Prometheus reports in whole seconds, so a change that arrives in the same
wall-clock second as the previous load waits for the next second before the signal is sent (see
reload/verify.py); ``--spacing 0.2`` shows that cost (median about 0.8 s here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from config_reloader.testing import kill_run

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def atomic_write(path: Path, data: bytes, staging: Path | None = None) -> None:
    """temp + fsync + rename + fsync dir; the temp file is in ``staging`` (same filesystem) if given,
    else next to the target."""
    fd, tmp = tempfile.mkstemp(dir=staging or path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def rule_names(base: str) -> set[str]:
    body = get_json(base + "/api/v1/rules")
    return {r["name"] for g in body["data"]["groups"] for r in g["rules"]}


def wait(pred: Callable[[], bool], timeout: float, interval: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(interval)


def rules_yaml(name: str) -> bytes:
    return (
        f"groups:\n  - name: {name}\n    rules:\n      - record: {name}\n        expr: vector(1)\n".encode()
    )


def measure(peer: str, changes: int, work: Path, spacing: float, writer: str) -> list[float]:
    cfg, rules = work / "prometheus.yml", work / "rules"
    rules.mkdir()
    staging = work if writer == "staging" else None
    atomic_write(cfg, f"global:\n  scrape_interval: 1m\nrule_files:\n  - {rules}/*.yml\n".encode())
    atomic_write(rules / "r0.yml", rules_yaml("r0"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prom = [
        PROMETHEUS,
        f"--config.file={cfg}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={work / 'tsdb'}",
        "--web.enable-lifecycle",
        "--log.level=warn",
    ]
    if peer == "direct HUP":
        argv = prom
    else:
        method = peer.split()[1].replace("sig-nover", "signal")
        verify = [] if "nover" in peer else ["--runtimeinfo-url", f"{base}/api/v1/status/runtimeinfo"]
        argv = [
            sys.executable, "-m", "config_reloader", "run",
            "--config-file", str(cfg), "--watched-dir", str(rules), "--delay-interval", "0",
            "--reload-method", method, "--reload-url", f"{base}/-/reload",
            "--ready-url", f"{base}/-/ready", *verify,
            "--log-level", os.environ.get("BENCH_LOG_LEVEL", "warn"),  # debug: see log.txt in the temp dir
            "--", *prom,
        ]  # fmt: skip
    log = open(work / "log.txt", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    out: list[float] = []
    try:
        wait(lambda: rule_names(base) == {"r0"}, 60, 0.05)
        time.sleep(max(1.1, spacing))  # watcher armed, and not in the second of the first load
        for i in range(1, changes + 1):
            name = f"r{i}"
            t0 = time.monotonic()
            atomic_write(rules / f"{name}.yml", rules_yaml(name), staging)
            if peer == "direct HUP":
                os.kill(proc.pid, signal.SIGHUP)
            wait(lambda n=name: n in rule_names(base), 30)  # type: ignore[misc]
            out.append(time.monotonic() - t0)
            time.sleep(spacing)  # space the changes apart (independent samples)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            kill_run(proc.pid)  # run's child (Prometheus) has a session of its own
            proc.wait()
        log.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--spacing", type=float, default=1.1, help="seconds between changes (default 1.1)")
    ap.add_argument(
        "--writer",
        choices=("staging", "in-dir"),
        default="staging",
        help="staging: temp file outside the watched dir, renamed in (kubelet/Thanos-test style); "
        "in-dir: temp file inside the watched dir (default: staging)",
    )
    ap.add_argument("--json", action="store_true", help="print raw samples as JSON too")
    a = ap.parse_args()
    peers = ("direct HUP", "run signal", "run sig-nover", "run http")
    results: dict[str, list[float]] = {}
    for peer in peers:
        with tempfile.TemporaryDirectory(prefix="bench-run-") as d:
            results[peer] = measure(peer, a.changes, Path(d), a.spacing, a.writer)
    ref = statistics.median(results["direct HUP"])
    print(
        f"change -> Prometheus reloaded, {a.changes} changes per peer, {a.spacing:g} s apart, "
        f"writer {a.writer}, {os.cpu_count()} CPUs"
    )
    print(f"{'peer':<14} {'median ms':>10} {'p90 ms':>8} {'min ms':>8} {'max ms':>8} {'x ref':>6}")
    for peer, xs in results.items():
        xs_sorted = sorted(xs)
        p90 = xs_sorted[min(len(xs) - 1, int(0.9 * len(xs)))]
        med = statistics.median(xs)
        print(
            f"{peer:<14} {med * 1e3:>10.1f} {p90 * 1e3:>8.1f} {min(xs) * 1e3:>8.1f} {max(xs) * 1e3:>8.1f} "
            f"{med / ref:>6.2f}{'  (ref)' if peer == 'direct HUP' else ''}"
        )
    if a.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
