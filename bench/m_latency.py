"""Latency from a completed write to the reload request (ours) or event delivery (peers).

Latency is measured from the moment the writer *starts* the operation (CLOCK_MONOTONIC, shared
by all processes): measured from its return, the fastest peers show negative figures because the
event precedes the writer's final syscall (fsync of the directory after the rename). The writer's
own duration is given in the note; it is the same for every tool.

Writers (one config file ``cfg.yaml`` in a watched directory):
  atomic   temp + fsync + rename (config_reloader.testing.atomic_replace or the same recipe)
  inplace  O_TRUNC then 4 chunks with 2 ms pauses, then close (readers can see partial content)
  kubelet  kubelet AtomicWriter order (..<ts> dir, ..data symlink swap)

Ours: ``config-reloader watch --watched-dir=DIR`` with --delay-interval 0 and 1s (default); the
latency of an operation is the first reload request whose file content (read by the endpoint on
arrival) equals what was written, minus the writer's start stamp. Every request whose content
is not one of the complete versions written is counted as partial (must be 0).

Peers: time from the start stamp to the *last* event the peer delivers for the operation
(the point where a user of that library has seen the whole change; its first event for an in-place
write may precede the last chunk). Peers do not read content, so "partial" does not apply.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from _common import Cell, Result, atomic_replace, cd_tmp, kubelet_writer, median, now_ns, write_in_place
from _endpoint import ReloadEndpoint
from _ours import OurReloader
from _peers import PEERS, PeerWatcher

WRITERS = ("atomic", "inplace", "kubelet")


def _content(i: int) -> bytes:
    # ~4 KiB, every version distinct; a partial read is visibly shorter.
    line = f"# version {i}\n".encode()
    return line + b"groups:\n" + b"".join(f"  - rule_{i}_{k}: 'x'\n".encode() for k in range(180))


def _writer(kind: str, d: Path) -> tuple[Callable[[bytes], None], str, str]:
    """Returns (write(data), path the endpoint reads, implementation note)."""
    cfg = str(d / "cfg.yaml")
    if kind == "atomic":
        return (lambda data: atomic_replace(cfg, data)), cfg, ""
    if kind == "inplace":
        return (lambda data: write_in_place(cfg, data, chunks=4, pause=0.002)), cfg, ""
    w, impl = kubelet_writer(str(d))
    return (lambda data: w.write({"cfg.yaml": data})), cfg, impl  # type: ignore[attr-defined]


NO_LEASE_PREFIX = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    # CAP_DAC_READ_SEARCH only: it may reach the interpreter wherever it is installed (e.g. under
    # a 0700 /root) and read the files, but it owns none of them and has no CAP_LEASE.
    "--inh-caps=+dac_read_search",
    "--ambient-caps=+dac_read_search",
    "--",
]
"""Runs the reloader as ``nobody`` (like a non-root sidecar reading root-owned ConfigMap files)."""


def no_lease_available() -> str:
    """Why the no-lease variant cannot run here ("" = it can)."""
    if os.geteuid() != 0:
        return "needs root (to run the reloader as another user)"
    if shutil.which("setpriv") is None:
        return "needs setpriv (util-linux)"
    return ""


def measure_ours(kind: str, delay: float, ops: int, *, no_lease: bool = False) -> Cell:
    tool = f"config-reloader (delay {delay:g}s{', no lease right' if no_lease else ''})"
    cell = Cell(f"latency {kind}", tool, "ms")
    with cd_tmp("lat") as d:
        if no_lease:
            d.chmod(0o755)  # readable by nobody; the files stay root's, so no read lease
        write, cfg, impl = _writer(kind, d)
        written: set[bytes] = set()
        first = _content(0)
        write(first)
        written.add(first)
        with ReloadEndpoint([cfg]) as ep:
            r = OurReloader([str(d)], ep, delay=delay, prefix=NO_LEASE_PREFIX if no_lease else ())
            try:
                r.start()
                time.sleep(0.2)
                n_before = ep.count()
                misses = 0
                wrote: list[float] = []
                after: list[float] = []
                for i in range(1, ops + 1):
                    data = _content(i)
                    written.add(data)
                    idx = ep.count()
                    start = now_ns()
                    write(data)
                    end = now_ns()
                    wrote.append((end - start) / 1e6)
                    ok = ep.wait_for(
                        lambda a, idx=idx, data=data: any(x.contents.get(cfg) == data for x in a[idx:]),
                        10 + delay,
                    )
                    if not ok:
                        misses += 1
                        continue
                    hit = next(x for x in ep.snapshot()[idx:] if x.contents.get(cfg) == data)
                    cell.values.append((hit.at_ns - start) / 1e6)
                    after.append((hit.at_ns - end) / 1e6)
                    time.sleep(0.05 + (0.02 if delay == 0 else 0.1))  # space the ops out
                time.sleep(max(0.3, delay + 0.3))
                arrivals = ep.snapshot()
                partial = sum(1 for x in arrivals if x.contents.get(cfg) not in written)
                cell.extra = {
                    "partial": partial,
                    "missed": misses,
                    "ops": ops,
                    "reloads": len(arrivals) - n_before,
                }
                cell.note = (
                    f"partial={partial}, missed={misses}, reloads={len(arrivals) - n_before}"
                    f"/{ops} ops; write itself {median(wrote) or 0:.2f} ms, "
                    f"after it returned {median(after) or 0:.2f} ms"
                )
                if impl:
                    cell.note += f"; writer: {impl}"
            finally:
                r.close()
    return cell


def measure_peer(peer: str, kind: str, ops: int) -> Cell:
    cell = Cell(f"latency {kind}", peer, "ms", reference=(peer == "inotifywait"))
    with cd_tmp("latp") as d:
        write, _cfg, _impl = _writer(kind, d)
        write(_content(0))
        w = PeerWatcher(peer, str(d))
        try:
            w.start()
            wrote: list[float] = []
            after: list[float] = []
            for i in range(1, ops + 1):
                idx = w.count()
                start = now_ns()
                write(_content(i))
                end = now_ns()
                wrote.append((end - start) / 1e6)
                w.wait_quiet(0.3, 5.0)
                evs = w.snapshot()[idx:]
                if evs:
                    cell.values.append((evs[-1][0] - start) / 1e6)
                    after.append((evs[-1][0] - end) / 1e6)
            cell.note = (
                f"{len(cell.values)}/{ops} ops delivered; write itself {median(wrote) or 0:.2f} ms, "
                f"after it returned {median(after) or 0:.2f} ms"
            )
        finally:
            w.close()
    return cell


def run(quick: bool) -> Result:
    ops = 6 if quick else 25
    ops_delay = 3 if quick else 10
    res = Result("latency")
    from _common import reloader_available

    ok, why = reloader_available()
    for kind in WRITERS:
        if ok:
            for delay, n in ((0.0, ops), (1.0, ops_delay)):
                try:
                    res.cells.append(measure_ours(kind, delay, n))
                except RuntimeError as exc:
                    res.cells.append(
                        Cell(
                            f"latency {kind}",
                            f"config-reloader (delay {delay:g}s)",
                            "ms",
                            note=f"FAILED: {str(exc)[:300]}",
                        )
                    )
            if kind == "atomic":
                # Where the reloader may not take read leases (a non-root sidecar reading
                # root-owned ConfigMap files), new content waits the 5 ms recheck instead.
                why_not = no_lease_available()
                if why_not:
                    res.cells.append(
                        Cell(
                            f"latency {kind}",
                            "config-reloader (delay 0s, no lease right)",
                            "ms",
                            note=why_not,
                        )
                    )
                else:
                    res.cells.append(measure_ours(kind, 0.0, ops, no_lease=True))
        else:
            res.cells.append(Cell(f"latency {kind}", "config-reloader", "ms", note=why))
        for peer in PEERS:
            res.cells.append(measure_peer(peer, kind, ops))
    res.commands = [
        "config-reloader watch --watched-dir=DIR --reload-url=http://127.0.0.1:PORT/-/reload "
        "--delay-interval={0s,1s} --log-level=warn",
        "inotifywait -m -q -e modify,attrib,close_write,moved_to,moved_from,move_self,create,delete,"
        "delete_self --format %w%f DIR",
        "python bench/peer_watch.py {watchfiles,watchdog} DIR   (library defaults, non-recursive)",
        "no lease right: " + " ".join(NO_LEASE_PREFIX) + " config-reloader watch ... (atomic, delay 0s)",
    ]
    res.notes.append(
        f"{ops} operations per cell ({ops_delay} with delay 1s), spaced 70-200 ms apart; "
        "ratio = median / inotifywait median for the same writer."
    )
    return res
