"""Idle cost: CPU seconds and wake-ups over a window with 1,000 watched files and no changes.

All watchers run at the same time (they are idle, so they do not disturb each other): ours with
its defaults (10 --watched-dir of 100 files each), inotifywait / watchfiles / watchdog recursively on
the parent. Wake-ups = voluntary context switches summed over all threads of the process
(/proc/PID/task/*/status); each is a thread going to sleep after being woken.
"""

from __future__ import annotations

import time

from _common import Cell, Result, cd_tmp, reloader_available
from _endpoint import ReloadEndpoint
from _ours import OurReloader
from _peers import PEERS, PeerWatcher


def run(quick: bool) -> Result:
    window = 10.0 if quick else 60.0
    res = Result("idle")
    ok, why = reloader_available()
    with cd_tmp("idle") as root:
        dirs = []
        for d in range(10):
            dd = root / f"d{d}"
            dd.mkdir()
            dirs.append(dd)
            for f in range(100):
                (dd / f"f{f:03d}.yaml").write_text(f"k: {d}-{f}\n")
        watchers: dict[str, object] = {}
        with ReloadEndpoint() as ep:
            ours = OurReloader([str(d) for d in dirs], ep, delay=1.0) if ok else None
            try:
                if ours is not None:
                    ours.start()
                    watchers["config-reloader"] = ours
                for peer in PEERS:
                    w = PeerWatcher(peer, str(root), recursive=True)
                    w.start()
                    watchers[peer] = w
                time.sleep(2.0)
                before = {k: w.stats() for k, w in watchers.items()}  # type: ignore[attr-defined]
                reloads0 = ep.count()
                time.sleep(window)
                after = {k: w.stats() for k, w in watchers.items()}  # type: ignore[attr-defined]
                reloads = ep.count() - reloads0
            finally:
                for w in watchers.values():
                    w.close()  # type: ignore[attr-defined]
    if not ok:
        res.cells.append(Cell(f"idle CPU over {window:g}s", "config-reloader", "s", note=why))
    for k in watchers:
        b, a = before[k], after[k]
        ref = k == "inotifywait"
        note = f"{a.threads} threads, RSS {a.rss_mib:.1f} MiB"
        if k == "config-reloader":
            note += f", reloads during idle: {reloads}"
        res.cells.append(
            Cell(f"idle CPU over {window:g}s", k, "s", [a.cpu_s - b.cpu_s], reference=ref, note=note)
        )
        res.cells.append(
            Cell(
                f"idle wake-ups over {window:g}s",
                k,
                "count",
                [a.voluntary - b.voluntary],
                reference=ref,
                note=f"{(a.voluntary - b.voluntary) / window:.1f}/s",
            )
        )
    res.commands = [
        "config-reloader watch --watched-dir=ROOT/d0 ... --watched-dir=ROOT/d9 (defaults)",
        "inotifywait -m -r ROOT; peer_watch.py {watchfiles,watchdog} ROOT --recursive",
    ]
    res.notes.append(f"window {window:g}s after 2s of settling; 1,000 files in 10 dirs.")
    return res
