#!/usr/bin/env python3
"""Peak RSS of `config-reloader watch --watch-interval=0` rendering gzip bombs.

    python bench/hostile_input.py                                   # this venv's build
    python bench/hostile_input.py --before /path/to/old/venv/bin/python --runs 3

Cells (interleaved, ``--runs`` each, median): the floor (``python -I -c pass`` of the same
interpreter), a 1 MiB gzip of 1 GiB of zeros, a 14 MB gzip bomb (14 members of 1 GiB of zeros
each), and a $(VAR) amplification (20,000 references to a 120 KB value). Every child runs under
RLIMIT_AS (``--cap``, default 6 GiB) so that an unbounded build fails with MemoryError instead of
taking the machine's memory. Prints peak RSS (MiB), the exit status, whether a traceback was
printed, and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

MIB = 1 << 20


def gzip_of_zeros(path: Path, size: int, members: int = 1) -> None:
    """``members`` concatenated gzip members of ``size`` zero bytes each (Go's reader and ours
    read them as one stream)."""
    block = bytes(MIB)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = b"".join(comp.compress(block) for _ in range(size // MIB)) + comp.flush()
    with open(path, "wb") as f:
        for _ in range(members):
            f.write(member)


def measure(
    python: str, argv: list[str], cap: int, env: dict[str, str] | None = None
) -> tuple[float, int, bool]:
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)\n"
        "sys.stdout.write(f'{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {p.returncode} '\n"
        "                 f'{int(b\"Traceback\" in p.stderr)}')\n"
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    out = subprocess.run(
        [python, "-I", "-c", probe, python, *argv],
        capture_output=True, text=True, preexec_fn=limit, env=env, check=True,
    ).stdout.split()  # fmt: skip
    return int(out[0]) / 1024, int(out[1]), out[2] == "1"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", metavar="PYTHON", help="also measure the build installed in this interpreter")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cap", type=int, default=6 << 30, help="RLIMIT_AS of each child in bytes")
    args = ap.parse_args()
    builds = {"this": sys.executable}
    if args.before:
        builds["before"] = args.before
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as d:
        tmp = Path(d)
        one = tmp / "1mib.gz"
        gzip_of_zeros(one, 1 << 30)
        fourteen = tmp / "14mb.gz"
        gzip_of_zeros(fourteen, 1 << 30, members=14)
        amp = tmp / "amp.yml"
        amp.write_bytes(b"x: $(BIG)\n" * 20_000)
        env = {**os.environ, "BIG": "v" * 120_000}
        out = str(tmp / "out.yml")
        render = ["-m", "config_reloader", "watch", f"--config-envsubst-file={out}", "--watch-interval=0"]
        cells = {
            "floor (python -I -c pass)": (["-I", "-c", "pass"], None),
            f"1 MiB gzip ({one.stat().st_size / MIB:.2f} MiB) of 1 GiB zeros": (
                [*render, f"--config-file={one}"], None),
            f"14 MB gzip bomb ({fourteen.stat().st_size / 1e6:.1f} MB, 14 GiB)": (
                [*render, f"--config-file={fourteen}"], None),
            "$(VAR) x 20,000 of 120 KB (2.4 GB)": (
                [*render, f"--config-file={amp}"], env),
        }  # fmt: skip
        samples: dict[tuple[str, str], list[tuple[float, int, bool]]] = {}
        for _ in range(args.runs):
            for cell, (argv, cell_env) in cells.items():
                for build, python in builds.items():
                    with open(out, "wb"):
                        pass
                    samples.setdefault((build, cell), []).append(measure(python, argv, args.cap, cell_env))
    print(f"{'build':8} {'cell':52} {'peak RSS MiB':>12} {'x floor':>8} {'exit':>5} traceback")
    for build in builds:
        floor = statistics.median(s[0] for s in samples[(build, "floor (python -I -c pass)")])
        for cell in cells:
            rss = statistics.median(s[0] for s in samples[(build, cell)])
            last = samples[(build, cell)][-1]
            traceback = "yes" if last[2] else "no"
            print(f"{build:8} {cell:52} {rss:12.1f} {rss / floor:8.2f} {last[1]:5d} {traceback}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
