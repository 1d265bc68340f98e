#!/usr/bin/env python3
"""Compare two builds of config-reloader (A = before, B = after) measure by measure, interleaved.

    python bench/ab.py --a /tmp/old/.venv --b .venv              # every measure, 6 rounds
    python bench/ab.py --a OLD --b NEW --only latency --rounds 10

Each venv needs the build installed (``pip install -e '.[test,bench]'`` in its checkout). One
harness (this checkout's bench/, run by the current interpreter) drives both; only the
``config-reloader`` found first on ``PATH`` changes, so the writers, the endpoint and the timing
code are the same for A and B. Rounds alternate A, B then B, A so load drift on a shared machine
hits both alike. Measures (see docs/benchmarks.md for their definitions):

* latency: write -> reload request, ``--delay-interval=0s``, per writer kind (atomic, inplace,
  kubelet), ``--ops`` operations per build per round;
* scale: ``--files`` files in 100 watched dirs, populated once; start-up, RSS, one-file latency;
* storm: ``--storm-writes`` in-place writes at delay 0 and 1 s: reloads, CPU seconds, settle time;
* idle: A and B side by side in one window (idle processes do not disturb each other).

Prints per-round medians and pooled medians; nothing is written to disk. Modules whose ``.pyc``
is missing are compiled at every start when ``PYTHONDONTWRITEBYTECODE`` is set: run
``python -m compileall -q src`` in both checkouts first, or start-up figures include compiling.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ours
import m_latency
import m_storm
from _common import atomic_replace, cd_tmp, now_ns
from _endpoint import ReloadEndpoint
from _ours import OurReloader
from m_scale import DIRS, _populate

BASE_PATH = os.environ.get("PATH", "")


def use(venv: str) -> None:
    """Make ``venv``'s ``config-reloader`` the one the harness starts."""
    os.environ["PATH"] = f"{os.path.join(venv, 'bin')}{os.pathsep}{BASE_PATH}"
    _ours.watch_flags.cache_clear()


def order(r: int) -> tuple[str, str]:
    return ("A", "B") if r % 2 == 0 else ("B", "A")


def _carries(arrivals: list, path: str, data: bytes) -> bool:  # type: ignore[type-arg]
    return any(x.contents.get(path) == data for x in arrivals)


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def summary(name: str, per_round: dict[str, list[list[float]]], unit: str) -> None:
    for build in ("A", "B"):
        rounds = [v for v in per_round[build] if v]
        pooled = [x for v in rounds for x in v]
        if not pooled:
            print(f"{name:34s} {build}: no samples")
            continue
        meds = ", ".join(f"{statistics.median(v):.2f}" for v in rounds)
        med = statistics.median(pooled)
        print(f"{name:34s} {build}: pooled median {med:8.2f} {unit} (n={len(pooled)}); per round {meds}")


def latency(venvs: dict[str, str], rounds: int, ops: int) -> None:
    for kind in m_latency.WRITERS:
        got: dict[str, list[list[float]]] = {"A": [], "B": []}
        partial = {"A": 0, "B": 0}
        for r in range(rounds):
            for b in order(r):
                use(venvs[b])
                cell = m_latency.measure_ours(kind, 0.0, ops)
                got[b].append(cell.values)
                partial[b] += int(cell.extra.get("partial", 0)) if cell.extra else 0
        summary(f"latency {kind} (delay 0s)", got, "ms")
        print(f"{'':34s} partial reloads: A {partial['A']}, B {partial['B']} (must be 0)")


def scale(venvs: dict[str, str], rounds: int, files: int, changes: int = 7) -> None:
    start: dict[str, list[list[float]]] = {"A": [], "B": []}
    rss: dict[str, list[list[float]]] = {"A": [], "B": []}
    lat: dict[str, list[list[float]]] = {"A": [], "B": []}
    with cd_tmp("ab-scale") as root:
        dirs = _populate(root, files)
        target = str(dirs[DIRS // 2] / "r0000.yaml")
        for r in range(rounds):
            for b in order(r):
                use(venvs[b])
                with ReloadEndpoint([target]) as ep:
                    rr = OurReloader([str(d) for d in dirs], ep, delay=0.0)
                    try:
                        start[b].append([rr.start(timeout=300)])
                        time.sleep(0.5)
                        rss[b].append([rr.stats().rss_mib])
                        one: list[float] = []
                        for i in range(changes):
                            data = f"# change {r} {b} {i}\n".encode() * 8
                            idx = ep.count()
                            t0 = now_ns()
                            atomic_replace(target, data)
                            if ep.wait_for(lambda a, idx=idx, data=data: _carries(a[idx:], target, data), 30):
                                hit = next(x for x in ep.snapshot()[idx:] if x.contents.get(target) == data)
                                one.append((hit.at_ns - t0) / 1e6)
                            time.sleep(0.1)
                        lat[b].append(one)
                    finally:
                        rr.close()
    summary(f"scale start-up {files:,} files", start, "s")
    summary(f"scale RSS {files:,} files", rss, "MiB")
    summary(f"scale latency {files:,} files", lat, "ms")


def storm(venvs: dict[str, str], rounds: int, writes: int) -> None:
    for delay in (0.0, 1.0):
        reloads: dict[str, list[list[float]]] = {"A": [], "B": []}
        cpu: dict[str, list[list[float]]] = {"A": [], "B": []}
        settle: dict[str, list[list[float]]] = {"A": [], "B": []}
        for r in range(rounds):
            for b in order(r):
                use(venvs[b])
                cells = {c.measure: c for c in m_storm._ours(writes, delay)}
                reloads[b].append(cells["storm reloads sent"].values)
                cpu[b].append(cells["storm CPU"].values)
                settle[b].append(cells["storm settled after last write"].values)
        summary(f"storm reloads (delay {delay:g}s)", reloads, "")
        summary(f"storm CPU (delay {delay:g}s)", cpu, "s")
        summary(f"storm settled (delay {delay:g}s)", settle, "ms")


def idle(venvs: dict[str, str], window: float) -> None:
    with cd_tmp("ab-idle") as root:
        dirs = []
        for d in range(10):
            dd = root / f"d{d}"
            dd.mkdir()
            dirs.append(dd)
            for f in range(100):
                (dd / f"f{f:03d}.yaml").write_text(f"k: {d}-{f}\n")
        procs: dict[str, OurReloader] = {}
        with ReloadEndpoint() as ep:
            try:
                for b in ("A", "B"):
                    use(venvs[b])
                    procs[b] = OurReloader([str(d) for d in dirs], ep, delay=1.0)
                    procs[b].start()
                time.sleep(2.0)
                before = {b: p.stats() for b, p in procs.items()}
                time.sleep(window)
                after = {b: p.stats() for b, p in procs.items()}
            finally:
                for p in procs.values():
                    p.close()
    for b in ("A", "B"):
        x, y = before[b], after[b]
        print(
            f"{f'idle {window:g}s, 1,000 files':34s} {b}: CPU {y.cpu_s - x.cpu_s:.3f} s, "
            f"wake-ups {y.voluntary - x.voluntary}, threads {y.threads}, RSS {y.rss_mib:.1f} MiB"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="venv of build A (before)")
    ap.add_argument("--b", required=True, help="venv of build B (after)")
    ap.add_argument("--only", action="append", choices=("latency", "scale", "storm", "idle"))
    ap.add_argument("--rounds", type=int, default=6, help="rounds per measure (default 6)")
    ap.add_argument("--ops", type=int, default=25, help="latency operations per build per round")
    ap.add_argument("--files", type=int, default=10_000, help="files of the scale measure")
    ap.add_argument("--storm-writes", type=int, default=20_000, help="writes per storm")
    ap.add_argument("--idle-window", type=float, default=60.0, help="seconds of the idle window")
    args = ap.parse_args(argv)
    venvs = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    for b, v in venvs.items():
        if not os.access(os.path.join(v, "bin", "config-reloader"), os.X_OK):
            ap.error(f"--{b.lower()} {v}: no bin/config-reloader in that venv")
    chosen = args.only or ["latency", "scale", "storm", "idle"]
    print(f"A = {venvs['A']}\nB = {venvs['B']}\nload average at start: {load()}", flush=True)
    if "latency" in chosen:
        latency(venvs, args.rounds, args.ops)
    if "scale" in chosen:
        scale(venvs, max(2, args.rounds // 2), args.files)
    if "storm" in chosen:
        storm(venvs, max(2, args.rounds // 3), args.storm_writes)
    if "idle" in chosen:
        idle(venvs, args.idle_window)
    print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
