"""Peers as event sources: inotifywait -m, watchfiles, watchdog (each a separate process).

Every peer is a ``PeerWatcher``: a process whose stdout lines are events. Python peers stamp the
delivery time themselves (bench/peer_watch.py); inotifywait has no sub-second time format, so its
lines are stamped by a reader thread here on arrival (one pipe hop later, which favours nothing:
it adds to the peer's figure).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import BENCH_DIR, now_ns, proc_stats, spawn, stop, wait_until

__all__ = ["PEERS", "PeerWatcher"]

PEERS = ("inotifywait", "watchfiles", "watchdog")

# The mask raw consumers of inotify use for config dirs (what our layer watches too).
_IWAIT_EVENTS = "modify,attrib,close_write,moved_to,moved_from,move_self,create,delete,delete_self"


class PeerWatcher:
    """A running peer watching ``path``; ``events`` is a list of (ns, path) as delivered."""

    def __init__(self, peer: str, path: str, *, recursive: bool = False) -> None:
        self.peer = peer
        self.path = path
        self.events: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        if peer == "inotifywait":
            argv = ["inotifywait", "-m", "-q", "-e", _IWAIT_EVENTS, "--format", "%w%f"]
            if recursive:
                argv.append("-r")
            argv.append(path)
            self.argv = argv
            self._stamp_here = True
        else:
            self.argv = [sys.executable, str(BENCH_DIR / "peer_watch.py"), peer, path]
            if recursive:
                self.argv.append("--recursive")
            self._stamp_here = False
        self.proc: subprocess.Popen[str] | None = None
        self.started_ns = 0

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait until it delivers an event for a probe file; returns seconds to ready."""
        self.started_ns = now_ns()
        self.proc = spawn(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._reader, daemon=True).start()
        # Readiness: write probe files until one is seen (a watch established after the first
        # probe would otherwise miss it).
        probe = os.path.join(self.path, ".bench-probe")
        deadline = time.monotonic() + timeout
        ready_ns = 0
        i = 0
        while time.monotonic() < deadline:
            i += 1
            Path(probe).write_text(str(i))
            if wait_until(lambda: any(".bench-probe" in p for _, p in self.snapshot()), 0.1):
                ready_ns = self._first_probe_ns()
                break
        os.unlink(probe)
        if not ready_ns:
            raise RuntimeError(f"{self.peer} did not become ready within {timeout} s")
        # Let the probe's own trailing events (delete, debounce batches) drain.
        self.wait_quiet(0.3, 3.0)
        return (ready_ns - self.started_ns) / 1e9

    def _first_probe_ns(self) -> int:
        for ns, p in self.snapshot():
            if ".bench-probe" in p:
                return ns
        return 0

    def _reader(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            at = now_ns()
            line = line.rstrip("\n")
            if line == "READY":
                self._ready.set()
                continue
            if self._stamp_here:
                ns, path = at, line
            else:
                head, _, path = line.partition(" ")
                try:
                    ns = int(head)
                except ValueError:
                    continue
            with self._lock:
                self.events.append((ns, path))

    def snapshot(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self.events)

    def count(self) -> int:
        with self._lock:
            return len(self.events)

    def wait_quiet(self, quiet: float, timeout: float) -> None:
        """Wait until no new event arrived for ``quiet`` seconds (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        last_n = self.count()
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.01)
            n = self.count()
            if n != last_n:
                last_n, last_change = n, time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                return

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stats(self) -> object:
        return proc_stats(self.pid)

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)
