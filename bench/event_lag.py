"""How far an in-place write runs ahead of its inotify event, and whether a read lease sees it.

    python bench/event_lag.py [--tries 3000]

A writer thread empties a watched file with ``open(O_TRUNC)`` and keeps it open; the reader spins
on ``stat`` until the file is empty, then asks at once (a zero-timeout ``select``) whether the
truncate's ``IN_MODIFY`` is queued yet, and probes the file with a read lease
(``config_reloader.watch.lease.probe_writers``). It prints how often the empty file was visible
before its event, the lag until the event came (ms), and how often the lease probe vouched for the
empty file (must be 0: this is what lets the reconciler skip its ``RACE_RECHECK`` wait).
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import tempfile
import threading
import time

from config_reloader.fileid import file_identity
from config_reloader.watch.inotify import IN_CLOSE_WRITE, IN_MODIFY, Inotify
from config_reloader.watch.lease import probe_writers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tries", type=int, default=3000, help="truncates to observe (default 3000)")
    n = ap.parse_args().tries
    d = tempfile.mkdtemp(prefix="cr-lag-")
    path = os.path.join(d, "cfg.yaml")
    with open(path, "wb") as f:
        f.write(b"x" * 100)
    ino = Inotify()
    ino.add_watch(d, IN_MODIFY | IN_CLOSE_WRITE)
    truncate, refill = threading.Event(), threading.Event()

    def writer() -> None:
        for _ in range(n):
            truncate.wait()
            truncate.clear()
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            refill.wait()
            refill.clear()
            os.write(fd, b"x" * 100)
            os.close(fd)

    threading.Thread(target=writer, daemon=True).start()
    ahead = vouched = unknown = 0
    lags: list[float] = []
    try:
        for _ in range(n):
            while select.select([ino.fileno()], [], [], 0)[0]:
                ino.read_events()
            truncate.set()
            while os.stat(path).st_size != 0:
                pass
            t0 = time.perf_counter()
            if not select.select([ino.fileno()], [], [], 0)[0]:
                ahead += 1
                select.select([ino.fileno()], [], [], 1.0)
                lags.append((time.perf_counter() - t0) * 1e3)
            probe = probe_writers(path, file_identity(os.stat(path)))  # still empty and open
            vouched += probe is True
            unknown += probe is None
            refill.set()
            while os.stat(path).st_size == 0:
                pass
    finally:
        ino.close()
        shutil.rmtree(d, ignore_errors=True)
    lags.sort()
    worst = f"{lags[-1]:.3f}" if lags else "-"
    median = f"{lags[len(lags) // 2]:.3f}" if lags else "-"
    print(f"truncates observed: {n}")
    print(f"empty file visible before its IN_MODIFY was queued: {ahead} ({100 * ahead / n:.1f}%)")
    print(f"lag until it was queued (ms, with the reader's own wake-up): median {median}, max {worst}")
    print(f"lease probe vouched for the empty, open file: {vouched} (must be 0); no lease right: {unknown}")


if __name__ == "__main__":
    main()
