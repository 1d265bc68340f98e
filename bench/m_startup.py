"""Cold start of the `condition` subcommand vs a bare interpreter and systemd-analyze.

hyperfine runs each command with warm-up runs (page cache warm, "cold" = a new process) and
reports every run's wall time; we take the median and p99. Exit statuses are ignored (-i): a
condition that is false exits non-zero by design. Target (DESIGN §7): config-reloader condition
median <= 1.3 x `python -c pass`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import Cell, Result, reloader_argv


def run(quick: bool) -> Result:
    runs = 15 if quick else 60
    res = Result("startup")
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "config-reloader condition": [*reloader_argv(), "condition", "ConditionCPUFeature=avx2"],
        "systemd-analyze condition": ["systemd-analyze", "condition", "ConditionCPUFeature=avx2"],
    }
    # Does our subcommand work yet? (exit 0 = true, 1 = false; anything else = not working)
    probe = subprocess.run(cmds["config-reloader condition"], capture_output=True, text=True, timeout=60)
    ours_ok = probe.returncode in (0, 1) and "Traceback" not in probe.stderr
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "h.json"
        argv = [
            "hyperfine",
            "-N",
            "-i",
            "--warmup",
            "3",
            "--runs",
            str(runs),
            "--export-json",
            str(out),
            "--style",
            "none",
        ]
        for name, c in cmds.items():
            argv += ["-n", name, shlex.join(c)]
        subprocess.run(argv, check=True, capture_output=True, timeout=900)
        data = json.loads(out.read_text())
    for r in data["results"]:
        name = r["command"]
        cell = Cell(
            "start-up condition",
            name,
            "ms",
            [t * 1000 for t in r["times"]],
            reference=(name == "python -c pass"),
        )
        if name == "config-reloader condition" and not ours_ok:
            cell.note = f"NOT WORKING YET (exit {probe.returncode}): {probe.stderr.strip()[-160:]}"
        res.cells.append(cell)
    res.commands = [" ".join(argv[:10]) + " ... " + " ; ".join(shlex.join(c) for c in cmds.values())]
    res.notes.append(
        f"{runs} runs each after 3 warm-ups, hyperfine -N (no shell). Target: "
        "config-reloader condition <= 1.3 x python -c pass."
    )
    return res
