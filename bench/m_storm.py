"""Storm: W in-place writes to one watched file as fast as one Python writer can go.

Ours (``--delay-interval=0s`` and the default ``1s``): reload requests received, CPU seconds of
the reloader process from the first write until it went quiet after the last one, and whether the
last request carried the final content (must be yes). Peers: events delivered and CPU seconds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from _common import Cell, Result, cd_tmp, now_ns, proc_stats, reloader_available
from _endpoint import ReloadEndpoint
from _ours import OurReloader
from _peers import PEERS, PeerWatcher

DRAIN_CAP = 90.0  # seconds a peer may take to deliver its backlog before we stop waiting


def _storm(path: str, writes: int) -> float:
    """The writes; returns seconds taken."""
    t0 = time.monotonic()
    for i in range(writes):
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, b"value: %d\n" % i)
        os.close(fd)
    return time.monotonic() - t0


def _ours(writes: int, delay: float) -> list[Cell]:
    tool = f"config-reloader (delay {delay:g}s)"
    with cd_tmp("storm") as d:
        cfg = str(d / "cfg.yaml")
        Path(cfg).write_bytes(b"value: start\n")
        final = b"value: %d\n" % (writes - 1)
        with ReloadEndpoint([cfg]) as ep:
            r = OurReloader([str(d)], ep, delay=delay)
            try:
                r.start()
                time.sleep(0.3)
                n0 = ep.count()
                cpu0 = r.stats().cpu_s
                took = _storm(cfg, writes)
                done = now_ns()
                reached = ep.wait_for(
                    lambda a: bool(a) and a[-1].contents.get(cfg) == final and len(a) > n0, 60 + delay
                )
                time.sleep(max(0.5, delay + 0.5))  # anything still coming counts too
                arrivals = ep.snapshot()[n0:]
                cpu = r.stats().cpu_s - cpu0
                last_ok = bool(arrivals) and arrivals[-1].contents.get(cfg) == final
                final_lat = next(
                    ((x.at_ns - done) / 1e6 for x in arrivals if x.contents.get(cfg) == final), float("nan")
                )
            finally:
                r.close()
    reached_txt = "yes" if reached and last_ok else "NO"
    note = f"{writes:,} writes in {took:.1f}s; final content reached: {reached_txt}"
    return [
        Cell("storm reloads sent", tool, "count", [len(arrivals)], note=note),
        Cell("storm CPU", tool, "s", [cpu]),
        Cell(
            "storm settled after last write",
            tool,
            "ms",
            [final_lat],
            note="yes" if reached and last_ok else "NOT REACHED",
        ),
    ]


def _peer(peer: str, writes: int) -> list[Cell]:
    with cd_tmp("stormp") as d:
        cfg = str(d / "cfg.yaml")
        Path(cfg).write_bytes(b"value: start\n")
        w = PeerWatcher(peer, str(d))
        try:
            w.start()
            n0 = w.count()
            cpu0 = proc_stats(w.pid).cpu_s
            _storm(cfg, writes)
            done = now_ns()
            w.wait_quiet(0.5, DRAIN_CAP)
            cpu = proc_stats(w.pid).cpu_s - cpu0
            evs = w.snapshot()
            n = len(evs) - n0
            drained = (now_ns() - done) / 1e9 < DRAIN_CAP
            last = (evs[-1][0] - done) / 1e6 if n > 0 else float("nan")
        finally:
            w.close()
    ref = peer == "inotifywait"
    note = "last event delivered" + ("" if drained else f"; still delivering after {DRAIN_CAP:g} s")
    return [
        Cell("storm events delivered", peer, "count", [n], reference=ref),
        Cell("storm CPU", peer, "s", [cpu], reference=ref),
        Cell("storm settled after last write", peer, "ms", [last], reference=ref, note=note),
    ]


def run(quick: bool) -> Result:
    writes = 5_000 if quick else 100_000
    res = Result("storm")
    ok, why = reloader_available()
    if ok:
        for delay in (0.0, 1.0):
            try:
                res.cells += _ours(writes, delay)
            except RuntimeError as exc:
                res.cells.append(
                    Cell(
                        "storm reloads sent",
                        f"config-reloader (delay {delay:g}s)",
                        "count",
                        note=f"FAILED: {str(exc)[:300]}",
                    )
                )
    else:
        res.cells.append(Cell("storm reloads sent", "config-reloader", "count", note=why))
    for peer in PEERS:
        res.cells += _peer(peer, writes)
    res.commands = [f"{writes:,} x open(O_TRUNC)+write+close of one file in a watched dir"]
    res.notes.append(
        "CPU = user+system seconds of the watcher process (all threads) from the first "
        "write until it went quiet."
    )
    return res
