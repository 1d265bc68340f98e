"""CPU (user+sys, no quota) of the two runs prometheus-operator makes of the reloader per pod.

    python bench/slot_cpu.py [--runs N] [--python PATH]... [--rule-files N]

* one-shot: the init container, ``prometheus-config-reloader --watch-interval=0`` rendering a
  gzipped config with a ``$(POD_NAME)`` reference; CPU from ``wait4`` of the process;
* first reload: the sidecar (20 rule files in a ``--watched-dir``, the status server on
  ``--listen-address=:0`` as the operator's ``:8080``), from exec to the moment its
  first ``POST /-/reload`` reaches a loopback server here; CPU read then from the process' CPU
  clock (``clock_gettime`` of ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``: every thread,
  finished ones included, in ns);
* floor: ``python -I -c pass`` of the (first) interpreter, from ``wait4``.

``--python`` names the venv's interpreter whose ``config-reloader`` script is measured; give it
twice (a venv of the build before, then this one's) to compare two builds in the same loop. Not
``PYTHONPATH``: its entries go before the standard library's and slow every import down.
Runs are interleaved (floor, one-shot, sidecar, then the reverse order), so a change of machine
load hits every cell alike; min and median in ms, and the medians' ratio to the floor, are printed.
Under the slot's 10m CPU limit, wall time is about CPU time x 100.
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

CONFIG = b"global:\n  external_labels:\n    pod: $(POD_NAME)\n"


def _process_cpu_clock(pid: int) -> int:
    """The clock id of ``pid``'s whole-process CPU time (linux/posix-timers.h)."""
    return ((~pid) << 3) | 2  # CPUCLOCK_SCHED, process-wide


def _wait4_cpu(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{argv} exited {p.returncode}")
    return (ru.ru_utime + ru.ru_stime) * 1e3


def _first_reload_cpu(argv: list[str], cwd: Path, env: dict[str, str], srv: socket.socket) -> float:
    """Start the sidecar, accept its first reload POST, read its CPU clock, answer 200, stop it."""
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        srv.settimeout(30)
        conn, _ = srv.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            cpu = time.clock_gettime(_process_cpu_clock(p.pid)) * 1e3
            if not data.startswith(b"POST /-/reload"):
                raise SystemExit(f"unexpected request {data[:40]!r}")
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return cpu
    finally:
        p.terminate()
        p.wait(30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--python", action="append", help="interpreter whose config-reloader is measured")
    ap.add_argument("--rule-files", type=int, default=20)
    a = ap.parse_args()
    pythons = a.python or [sys.executable]
    with tempfile.TemporaryDirectory(prefix="slot-cpu-") as td:
        root = Path(td)
        (root / "prometheus.yaml.gz").write_bytes(gzip.compress(CONFIG))
        (root / "out").mkdir()
        rules = root / "rules"
        rules.mkdir()
        for i in range(a.rule_files):
            (rules / f"r{i}.yaml").write_text(f"groups:\n- name: g{i}\n  rules: []\n")
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        # The warm-up run writes the bytecode cache (as an installed package has it)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["POD_NAME"] = "prometheus-k8s-0"
        common = ["--config-file=prometheus.yaml.gz", "--config-envsubst-file=out/p.yaml"]
        floor = [pythons[0], "-I", "-c", "pass"]
        cmds = {"python -I -c pass": partial(_wait4_cpu, floor, root, env)}
        for n, python in enumerate(pythons):
            script = [python, str(Path(python).parent / "config-reloader"), "watch", *common]
            tag = f" [{n}]" if len(pythons) > 1 else ""
            cmds[f"one-shot (--watch-interval=0){tag}"] = partial(
                _wait4_cpu, [*script, "--watch-interval=0"], root, env
            )
            cmds[f"sidecar to first reload ({a.rule_files} rule files){tag}"] = partial(
                _first_reload_cpu,
                [*script, f"--watched-dir={rules}", f"--reload-url=http://127.0.0.1:{port}/-/reload",
                 "--listen-address=:0"],
                root, env, srv,
            )  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for fn in cmds.values():  # warm the page cache and the bytecode cache
            fn()
        for i in range(a.runs):
            for name, fn in list(cmds.items())[:: 1 if i % 2 == 0 else -1]:
                times[name].append(fn())
    floor = statistics.median(times["python -I -c pass"])
    print(f"{a.runs} interleaved runs each, CPU user+sys in ms")
    for n, python in enumerate(pythons):
        print(f"  [{n}] {python}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:42s} min {min(ts):6.1f}  median {med:6.1f}  {med / floor:5.2f}x floor")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
