"""A small service for supervision tests of ``config-reloader run`` (standard library only).

Run as ``python tests/support/testservice.py --state FILE [--config PATH] [options]``. It keeps a
JSON state file (written atomically: temp in the same dir, fsync, rename, fsync dir) with:

* ``pid``, ``ppid``, ``cpus_allowed_list`` (``Cpus_allowed_list`` of /proc/self/status),
* ``signals``: names of the signals received, in order,
* ``config``: the config content last loaded (text; None if no --config), ``loads``: how many
  loads (the start counts as one; each SIGHUP once ready reloads), ``history``: content per load,
* ``ready``: whether it has installed its SIGHUP handler yet, ``port``: the /ready port if any.

Options:
  --ready-after-ms N   install the SIGHUP handler only N ms after start (before that SIGHUP has its
                       default action and kills the process, like Prometheus before its PR 14924)
  --ready-port P       serve GET /ready on 127.0.0.1:P (0 = any free port; 200 once ready, else 503)
  --term-exit-code N   exit with N on SIGTERM / SIGINT (default 0)
  --ignore-term        record SIGTERM but do not exit (the stop ladder must escalate to SIGKILL)
  --die-on-usr2        on SIGUSR2 die by SIGUSR2 (default action) after recording it
  --exit-after-ms N    exit by itself N ms after start with --exit-code
  --exit-code N        exit status for --exit-after-ms (default 0)
  --spawn-orphan FILE  double-fork a grandchild that outlives its parent (orphan, re-parented to the
                       nearest subreaper), sleeps --orphan-sleep-ms, writes {pid, ppid} to FILE, exits
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import select
import signal
import socket
import sys
import tempfile
import threading
import time
from typing import Any


def atomic_write(path: str, data: bytes) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def cpus_allowed_list() -> str:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return ""


def spawn_orphan(path: str, sleep_ms: int) -> None:
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:  # grandchild: outlive the intermediate, then exit and become a zombie
            time.sleep(sleep_ms / 1000)
            try:
                atomic_write(path, json.dumps({"pid": os.getpid(), "ppid": os.getppid()}).encode())
            finally:
                os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)


class Service:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state: dict[str, Any] = {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "cpus_allowed_list": cpus_allowed_list(),
            "signals": [],
            "config": None,
            "loads": 0,
            "history": [],
            "ready": False,
            "port": None,
        }
        self.pending: list[int] = []
        self.ready = False

    def save(self) -> None:
        atomic_write(self.args.state, json.dumps(self.state).encode())

    def load_config(self) -> None:
        if self.args.config:
            try:
                with open(self.args.config, encoding="utf-8") as f:
                    self.state["config"] = f.read()
            except OSError as exc:
                self.state["config"] = None
                self.state["config_error"] = str(exc)
        self.state["loads"] += 1
        self.state["history"].append(self.state["config"])

    def on_signal(self, sig: int, _frame: object) -> None:
        self.pending.append(sig)  # handled in the main loop, never re-entrantly

    def serve_ready(self) -> None:
        svc = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.path == "/ready" and svc.ready
                body = b"ready\n" if ok else b"not ready\n"
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.args.ready_port), Handler)
        self.state["port"] = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def main(self) -> int:
        a = self.args
        rfd, wfd = socket.socketpair()
        rfd.setblocking(False)
        wfd.setblocking(False)
        signal.set_wakeup_fd(wfd.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, self.on_signal)
        start = time.monotonic()
        self.load_config()
        if a.ready_port is not None:
            self.serve_ready()
        if a.spawn_orphan:
            spawn_orphan(a.spawn_orphan, a.orphan_sleep_ms)
        self.save()
        ready_at = start + a.ready_after_ms / 1000
        exit_at = start + a.exit_after_ms / 1000 if a.exit_after_ms is not None else None
        while True:
            now = time.monotonic()
            if not self.ready and now >= ready_at:
                signal.signal(signal.SIGHUP, self.on_signal)
                self.ready = True
                self.state["ready"] = True
                self.save()
            if exit_at is not None and now >= exit_at:
                return int(a.exit_code)
            deadlines = [t for t in (ready_at if not self.ready else None, exit_at) if t is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else 1.0
            select.select([rfd], [], [], min(timeout, 1.0))
            try:
                while rfd.recv(4096):
                    pass
            except BlockingIOError:
                pass
            while self.pending:
                sig = self.pending.pop(0)
                name = signal.Signals(sig).name
                self.state["signals"].append(name)
                if sig == signal.SIGHUP:
                    self.load_config()
                self.save()
                if sig in (signal.SIGTERM, signal.SIGINT) and not a.ignore_term:
                    return int(a.term_exit_code)
                if sig == signal.SIGUSR2 and a.die_on_usr2:
                    signal.signal(signal.SIGUSR2, signal.SIG_DFL)
                    os.kill(os.getpid(), signal.SIGUSR2)
                    time.sleep(5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--state", required=True)
    p.add_argument("--config")
    p.add_argument("--ready-after-ms", type=int, default=0)
    p.add_argument("--ready-port", type=int)
    p.add_argument("--term-exit-code", type=int, default=0)
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("--die-on-usr2", action="store_true")
    p.add_argument("--exit-after-ms", type=int)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--spawn-orphan")
    p.add_argument("--orphan-sleep-ms", type=int, default=200)
    return Service(p.parse_args(argv)).main()


if __name__ == "__main__":
    sys.exit(main())
