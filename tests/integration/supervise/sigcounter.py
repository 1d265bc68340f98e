"""A child for the process-group tests of ``config-reloader run``: it records every signal it gets
and who sent it (standard library only).

Run as ``python sigcounter.py --out FILE [--exit-on NAME ...] [--grandchild-out FILE2
[--grandchild-exit-on NAME ...]]``. It blocks SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1 and
SIGUSR2 and takes them one at a time with ``sigwaitinfo``, so none is lost to a Python-level
handler running late, and the sender's pid (``si_pid``) tells a signal forwarded by ``run`` from one
sent straight by a terminal or a test. FILE gets one line per event, appended and flushed:

* ``ready PID PGID SID`` once the signals are blocked (and the grandchild, if any, is ready),
* ``NAME SENDER_PID`` per signal received; it exits 0 after recording a signal named by
  ``--exit-on``, and ignores the others (no signal kills it but SIGKILL).

With ``--grandchild-out`` it first starts a copy of itself (same process group: a plain fork and
exec) that writes to FILE2 and exits on ``--grandchild-exit-on`` (default SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--exit-on", action="append", default=[])
    p.add_argument("--grandchild-out")
    p.add_argument("--grandchild-exit-on", action="append", default=[])
    a = p.parse_args(argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    out = open(a.out, "a", buffering=1, encoding="ascii")  # noqa: SIM115 - lives as long as the process
    extra = ""
    if a.grandchild_out:
        gc_argv = [sys.executable, os.path.abspath(__file__), "--out", a.grandchild_out]
        for name in a.grandchild_exit_on or ["SIGTERM"]:
            gc_argv += ["--exit-on", name]
        gc = subprocess.Popen(gc_argv)
        deadline = time.monotonic() + 60
        while not _has_ready_line(a.grandchild_out):
            if gc.poll() is not None or time.monotonic() > deadline:
                print(f"grandchild failed to start ({gc.returncode})", file=sys.stderr)
                return 3
            time.sleep(0.01)
        extra = f" {gc.pid}"
    out.write(f"ready {os.getpid()} {os.getpgrp()} {os.getsid(0)}{extra}\n")
    while True:
        info = signal.sigwaitinfo(SIGNALS)
        name = signal.Signals(info.si_signo).name
        out.write(f"{name} {info.si_pid}\n")
        if name in a.exit_on:
            return 0


def _has_ready_line(path: str) -> bool:
    try:
        with open(path, encoding="ascii") as f:
            return f.readline().endswith("\n")
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
