"""Cold start of the `condition` subcommand vs a bare interpreter and systemd-analyze.

The floor is ``python -I -c pass`` run by the SAME interpreter as the command (the venv's python
named in the console script's ``#!`` line): another interpreter (a pyenv build with a ``.pth``
file, say) would move the floor by tens of milliseconds. Peers in the same run:

* ``config-reloader condition ConditionCPUFeature=avx2``: the installed command (a plain script,
  scripts/config-reloader: pip's generated entry-point wrapper imported ``re`` before our code ran);
* ``python -I -m config_reloader condition ...``: the same work without the wrapper (``-m`` pays
  for ``runpy`` instead);
* ``systemd-analyze condition ConditionCPUFeature=avx2`` (one CPU, raw CPUID, compiled C).

hyperfine runs each command with warm-up runs (page cache warm, "cold" = a new process) and
reports every run's wall time; we take the median and p99. Exit statuses are ignored (-i): a
condition that is false exits non-zero by design. Target: config-reloader condition median
<= 1.5 x the floor.

The runs are interleaved: several short hyperfine rounds, the command order reversed every other
round, so a change of machine load during the measure hits every command alike. The note gives the
ratio of each round as well as the pooled one, and where the time goes: the import time of each
group of modules (``-X importtime``, the smallest of several runs per module) and the time of
probing every CPU (``probe_machine()`` in a warm process, smallest of several runs).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import Cell, Result, reloader_argv

ASSIGNMENT = "ConditionCPUFeature=avx2"


def _interpreter(argv: list[str]) -> str:
    """The python that runs ``argv``: the console script's ``#!`` interpreter, else argv[0]."""
    exe = argv[0]
    if len(argv) == 1:
        with open(exe, "rb") as fh:
            first = fh.readline().decode(errors="replace")
        if first.startswith("#!"):
            return first[2:].strip().split()[0]
    return exe


def _importtime(cmd: list[str], runs: int) -> dict[str, float]:
    """Module -> smallest self import time in ms over ``runs`` runs of ``cmd`` (with -X importtime)."""
    best: dict[str, float] = {}
    for _ in range(runs):
        err = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False).stderr
        for line in err.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _cum, name = (x.strip() for x in line[len("import time:") :].split("|"))
            best[name] = min(best.get(name, float("inf")), int(self_us) / 1000)
    return best


def _probe_ms(python: str, runs: int) -> float:
    """Smallest time of ``probe_machine()`` (every CPU of the affinity mask) in a warm process."""
    code = (
        "import time\nfrom config_reloader.cpu import probe_machine\nprobe_machine()\nbest = 1e9\n"
        f"for _ in range({runs}):\n    t = time.perf_counter(); probe_machine()\n"
        "    best = min(best, time.perf_counter() - t)\nprint(best * 1000)\n"
    )
    out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=120, check=False)
    try:
        return float(out.stdout.strip())
    except ValueError:
        return float("nan")


def breakdown(script: list[str], python: str, runs: int = 10) -> str:
    """Where the start-up time goes, as one sentence of figures."""
    floor = _importtime([python, "-I", "-X", "importtime", "-c", "pass"], runs)
    # A console script is run as `python -X importtime SCRIPT`; `python -m config_reloader` as is.
    args = script[1:] if script[0] == python else script
    ours = _importtime([python, "-X", "importtime", *args, "condition", ASSIGNMENT], runs)
    extra = {m: t for m, t in ours.items() if m not in floor}
    ctypes_mods = ("ctypes", "_ctypes", "ctypes._endian", "struct", "_struct")
    groups = {"config_reloader": 0.0, "ctypes": 0.0, "other": 0.0}
    for m, t in extra.items():
        key = (
            "config_reloader"
            if m.startswith("config_reloader")
            else "ctypes"
            if m in ctypes_mods
            else "other"
        )
        groups[key] += t
    wrapper = groups["other"]
    probe = _probe_ms(python, runs)
    ncpu = len(os.sched_getaffinity(0))
    return (
        f"Where the time goes (smallest of {runs} runs each): imports beyond `python -I -c pass` "
        f"{sum(extra.values()):.1f} ms = our modules {groups['config_reloader']:.1f} ms + ctypes "
        f"{groups['ctypes']:.1f} ms + other stdlib modules {wrapper:.1f} ms; probing every CPU "
        f"({ncpu} CPUs, one pinned worker thread) {probe:.2f} ms in a warm process; the rest is "
        "running the command and tearing the interpreter down."
    )


def run(quick: bool) -> Result:
    runs = 15 if quick else 60
    res = Result("startup")
    script = reloader_argv()
    python = _interpreter(script)
    cmds = {
        "python -I -c pass": [python, "-I", "-c", "pass"],
        "config-reloader condition": [*script, "condition", ASSIGNMENT],
        "python -I -m config_reloader condition": [
            python,
            "-I",
            "-m",
            "config_reloader",
            "condition",
            ASSIGNMENT,
        ],
    }
    if shutil.which("systemd-analyze"):
        cmds["systemd-analyze condition"] = ["systemd-analyze", "condition", ASSIGNMENT]
    # Does our subcommand work? (exit 0 = true, 1 = false; anything else = not working)
    probe = subprocess.run(cmds["config-reloader condition"], capture_output=True, text=True, timeout=60)
    ours_ok = probe.returncode in (0, 1) and "Traceback" not in probe.stderr
    rounds = 3 if quick else 6
    per_round = max(runs // rounds, 3)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    round_ratios: list[float] = []
    argv: list[str] = []
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "h.json"
        for i in range(rounds):
            order = list(cmds.items()) if i % 2 == 0 else list(reversed(cmds.items()))
            argv = ["hyperfine", "-N", "-i", "--warmup", "3", "--runs", str(per_round)]
            argv += ["--export-json", str(out), "--style", "none"]
            for name, c in order:
                argv += ["-n", name, shlex.join(c)]
            subprocess.run(argv, check=True, capture_output=True, timeout=900)
            this = {r["command"]: r["times"] for r in json.loads(out.read_text())["results"]}
            for name, ts in this.items():
                times[name] += ts
            base = statistics.median(this["python -I -c pass"])
            round_ratios.append(statistics.median(this["config-reloader condition"]) / base)
    for name, ts in times.items():
        cell = Cell(
            "start-up condition", name, "ms", [t * 1000 for t in ts], reference=name == "python -I -c pass"
        )
        if name == "config-reloader condition" and not ours_ok:
            cell.note = f"NOT WORKING (exit {probe.returncode}): {probe.stderr.strip()[-160:]}"
        res.cells.append(cell)
    res.commands = [" ".join(argv[:10]) + " ... " + " ; ".join(shlex.join(c) for c in cmds.values())]
    res.notes.append(
        f"{per_round * rounds} runs each, interleaved in {rounds} rounds of {per_round} (3 warm-ups "
        "each, order reversed every other round), hyperfine -N (no shell); floor = `python -I -c "
        f"pass` of {python} (the interpreter of the command). Target: config-reloader "
        "condition <= 1.5 x the floor. Ratio per round: " + ", ".join(f"{r:.2f}x" for r in round_ratios) + "."
    )
    res.notes.append(breakdown(script, python, runs=5 if quick else 15))
    return res


if __name__ == "__main__":  # python bench/m_startup.py [--quick]: this measure alone, printed
    r = run("--quick" in sys.argv)
    for c in r.cells:
        print(f"{c.tool:45s} median {c.med:7.2f} ms  p99 {c.p99:7.2f} ms")
    print("\n".join(r.notes))
