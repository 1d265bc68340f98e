"""Run the full test suite N times back to back under a CPU load this command starts and stops.

    python bench/suite_repeat.py [-n 30] [--load 2] [--until 21:30] [--logs DIR] [-- PYTEST_ARGS...]

Not part of CI: it answers "does the suite pass every time on a loaded machine?". The load is
``--load`` busy-loop processes (default: one per CPU in the affinity mask) that spin until this
command stops them, and that stop by themselves after ``--max-load-seconds`` even if this command is
killed with SIGKILL. Each run is ``python -m pytest -q -p no:cacheprovider PYTEST_ARGS`` in the
current directory, with the signal state and umask this command was started with (so
``nohup python bench/suite_repeat.py`` repeats the suite under nohup). The output of every run goes
to ``LOGS/run-NN.txt``; one line per run is printed as it ends, then the figure:
``passed K of N runs`` (a run passes when pytest exits 0).

``--until HH:MM`` (UTC) stops in time: no run starts once the time is past, and a run still going
at that time is stopped and reported as "stopped", not counted. Ctrl-C or SIGTERM stops the current
run the same way. Exit status: 0 when every counted run passed (and at least one ran), else 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_BUSY = (
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end:\n"
    "    sum(range(1000))\n"
)


class Stop(Exception):
    """SIGINT/SIGTERM received: stop the current run and the load, then report."""


def _on_signal(signum: int, frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def _deadline(until: str | None) -> float | None:
    """Seconds since the epoch of the next ``HH:MM`` UTC, or None."""
    if until is None:
        return None
    hh, mm = (int(x) for x in until.split(":"))
    now = dt.datetime.now(dt.UTC)
    at = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if at <= now:
        at += dt.timedelta(days=1)
    return at.timestamp()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the run's process group, SIGKILL after 20 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def _summary(log: Path) -> str:
    """pytest's last line ("3 failed, 512 passed ... in 201.3s") and the FAILED/ERROR test ids."""
    text = log.read_text(errors="replace").splitlines()
    last = next((line.strip("= ") for line in reversed(text) if " in " in line and "passed" in line), "")
    bad = [m.group(0) for line in text if (m := re.match(r"(FAILED|ERROR) \S+", line))]
    return "; ".join([last, *bad])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=30, help="number of full runs (default 30)")
    ap.add_argument("--load", type=int, default=len(os.sched_getaffinity(0)), help="busy-loop processes")
    ap.add_argument("--max-load-seconds", type=float, default=6 * 3600, help="each busy loop's own bound")
    ap.add_argument("--until", metavar="HH:MM", help="UTC time by which everything has stopped")
    ap.add_argument("--logs", type=Path, default=Path("suite-repeat-logs"), help="one output file per run")
    ap.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    args = ap.parse_args(argv)
    deadline = _deadline(args.until)
    args.logs.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    load = [
        subprocess.Popen([sys.executable, "-c", _BUSY, str(args.max_load_seconds)], start_new_session=True)
        for _ in range(args.load)
    ]
    print(f"suite_repeat: {args.runs} runs, {args.load} busy loops, logs in {args.logs}", flush=True)
    results: list[bool] = []
    stopped = ""
    try:
        for i in range(1, args.runs + 1):
            if deadline is not None and time.time() >= deadline:
                stopped = f"--until {args.until} reached before run {i}"
                break
            log = args.logs / f"run-{i:02d}.txt"
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args]
            t0 = time.monotonic()
            with log.open("wb") as out:
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                try:
                    left = None if deadline is None else max(0.0, deadline - time.time())
                    rc = proc.wait(timeout=left)
                except subprocess.TimeoutExpired:
                    _stop(proc)
                    stopped = f"--until {args.until} reached during run {i} (stopped, not counted)"
                    break
                except Stop as why:
                    _stop(proc)
                    stopped = f"{why} during run {i} (stopped, not counted)"
                    break
            results.append(rc == 0)
            took = time.monotonic() - t0
            verdict = "pass" if rc == 0 else f"FAIL (exit {rc})"
            print(f"run {i:2d}: {verdict} in {took:.0f}s: {_summary(log)}", flush=True)
    except Stop as why:
        stopped = f"{why} between runs"
    finally:
        for p in load:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    if stopped:
        print(f"suite_repeat: stopped early: {stopped}")
    passed = sum(results)
    print(f"suite_repeat: passed {passed} of {len(results)} runs ({args.load} busy loops)")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
