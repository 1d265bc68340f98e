"""Scale: N rule files spread over 100 watched directories (N = 100, 1,000, 10,000).

Ours: ``config-reloader watch --watched-dir=D1 ... --watched-dir=D100 --delay-interval=0s``.
  start-up = spawn to the initial reload request (the first full snapshot is in that time);
  RSS = VmRSS after start-up and after the changes; latency = start of one file's atomic replacement to the
  reload request carrying its new content (repeated, median). The curve should be flat: a hint for
  one file must rehash that file only (rule R5 in docs/design.md), so latency(10,000) / latency(100) ~ 1.
Peers watch the parent of the 100 dirs recursively (their natural use): start-up = spawn to the
first delivered event of a probe file; latency = change to last delivered event.
"""

from __future__ import annotations

import time
from pathlib import Path

from _common import Cell, Result, atomic_replace, cd_tmp, now_ns, reloader_available
from _endpoint import ReloadEndpoint
from _ours import OurReloader
from _peers import PEERS, PeerWatcher

DIRS = 100


def _populate(root: Path, n: int) -> list[Path]:
    per = max(1, n // DIRS)
    dirs = []
    for d in range(DIRS):
        dd = root / f"rules-{d:03d}"
        dd.mkdir()
        dirs.append(dd)
        for f in range(per):
            (dd / f"r{f:04d}.yaml").write_bytes(f"groups: [{{name: g{d}_{f}, rules: []}}]\n".encode() * 4)
    return dirs


def _ours(n: int, changes: int) -> list[Cell]:
    label = f"{n:,} files"
    cells = []
    with cd_tmp("scale") as root:
        dirs = _populate(root, n)
        target = str(dirs[DIRS // 2] / "r0000.yaml")
        with ReloadEndpoint([target]) as ep:
            r = OurReloader([str(d) for d in dirs], ep, delay=0.0)
            try:
                start_s = r.start(timeout=300)
                time.sleep(0.5)
                rss0 = r.stats().rss_mib
                lat = []
                for i in range(changes):
                    data = f"# change {i}\n".encode() * 8
                    idx = ep.count()
                    done = now_ns()  # write start: see m_latency's docstring
                    atomic_replace(target, data)
                    if ep.wait_for(
                        lambda a, idx=idx, data=data: any(x.contents.get(target) == data for x in a[idx:]), 30
                    ):
                        hit = next(x for x in ep.snapshot()[idx:] if x.contents.get(target) == data)
                        lat.append((hit.at_ns - done) / 1e6)
                    time.sleep(0.1)
                rss1 = r.stats().rss_mib
                watches = _count_inotify_watches(r.pid)
            finally:
                r.close()
    tool = "config-reloader"
    cells.append(Cell(f"scale start-up {label}", tool, "s", [start_s], note="spawn to initial reload"))
    cells.append(
        Cell(
            f"scale RSS {label}",
            tool,
            "MiB",
            [rss0, rss1],
            note=f"after start {rss0:.1f}, after changes {rss1:.1f}; inotify watches {watches}",
        )
    )
    cells.append(Cell(f"scale latency {label}", tool, "ms", lat, note=f"{len(lat)}/{changes} changes seen"))
    return cells


def _count_inotify_watches(pid: int) -> int:
    """Watches held by ``pid``: 'inotify wd:' lines in /proc/PID/fdinfo/* (proc(5))."""
    import os

    total = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fdinfo"):
            try:
                total += Path(f"/proc/{pid}/fdinfo/{fd}").read_text().count("inotify wd:")
            except OSError:
                pass
    except OSError:
        return -1
    return total


def _peer(peer: str, n: int, changes: int) -> list[Cell]:
    label = f"{n:,} files"
    with cd_tmp("scalep") as root:
        dirs = _populate(root, n)
        target = str(dirs[DIRS // 2] / "r0000.yaml")
        w = PeerWatcher(peer, str(root), recursive=True)
        try:
            start_s = w.start(timeout=300)
            rss = w.stats().rss_mib  # type: ignore[attr-defined]
            lat = []
            for i in range(changes):
                idx = w.count()
                done = now_ns()
                atomic_replace(target, f"# change {i}\n".encode() * 8)
                w.wait_quiet(0.3, 5.0)
                evs = w.snapshot()[idx:]
                if evs:
                    lat.append((evs[-1][0] - done) / 1e6)
        finally:
            w.close()
    ref = peer == "inotifywait"
    return [
        Cell(
            f"scale start-up {label}",
            peer,
            "s",
            [start_s],
            reference=ref,
            note="spawn to first event of a probe file",
        ),
        Cell(f"scale RSS {label}", peer, "MiB", [rss], reference=ref),
        Cell(f"scale latency {label}", peer, "ms", lat, reference=ref),
    ]


def run(quick: bool) -> Result:
    sizes = (100, 1000, 10000)
    changes = 2 if quick else 7
    res = Result("scale")
    ok, why = reloader_available()
    for n in sizes:
        if ok:
            try:
                res.cells += _ours(n, changes)
            except RuntimeError as exc:
                res.cells.append(
                    Cell(
                        f"scale start-up {n:,} files",
                        "config-reloader",
                        "s",
                        note=f"FAILED: {str(exc)[:300]}",
                    )
                )
        else:
            res.cells.append(Cell(f"scale start-up {n:,} files", "config-reloader", "s", note=why))
        for peer in PEERS:
            if quick and peer != "inotifywait" and n != 10000:
                continue
            res.cells += _peer(peer, n, changes)
    res.commands = [
        "config-reloader watch --watched-dir=ROOT/rules-000 ... --watched-dir=ROOT/rules-099 "
        "--delay-interval=0s --reload-url=...",
        "inotifywait -m -r ... ROOT ; python bench/peer_watch.py {watchfiles,watchdog} ROOT --recursive",
    ]
    res.notes.append(
        f"{DIRS} dirs; {changes} single-file atomic changes per size; latency ratio across "
        "sizes is printed for ours."
    )
    return res
