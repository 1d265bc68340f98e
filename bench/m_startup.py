"""Cold start of the `condition` subcommand vs a bare interpreter and systemd-analyze.

hyperfine runs each command with warm-up runs (page cache warm, "cold" = a new process) and
reports every run's wall time; we take the median and p99. Exit statuses are ignored (-i): a
condition that is false exits non-zero by design. Target (budget B1 in docs/design.md): config-reloader
condition median <= 1.3 x `python -c pass`.

The runs are interleaved: several short hyperfine rounds, the command order reversed every other
round, so a change of machine load during the measure hits every command alike (one long block
per command swung the ratio from 0.99x to 1.28x between runs). The note gives the ratio of each
round as well as the pooled one.
"""

from __future__ import annotations

import json
import shlex
import statistics
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
    rounds = 3 if quick else 6
    per_round = max(runs // rounds, 3)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    round_ratios: list[float] = []
    argv: list[str] = []
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "h.json"
        for i in range(rounds):
            order = list(cmds.items()) if i % 2 == 0 else list(reversed(cmds.items()))
            argv = [
                "hyperfine",
                "-N",
                "-i",
                "--warmup",
                "3",
                "--runs",
                str(per_round),
                "--export-json",
                str(out),
                "--style",
                "none",
            ]
            for name, c in order:
                argv += ["-n", name, shlex.join(c)]
            subprocess.run(argv, check=True, capture_output=True, timeout=900)
            this = {r["command"]: r["times"] for r in json.loads(out.read_text())["results"]}
            for name, ts in this.items():
                times[name] += ts
            base = statistics.median(this["python -c pass"])
            round_ratios.append(statistics.median(this["config-reloader condition"]) / base)
    for name, ts in times.items():
        cell = Cell(
            "start-up condition",
            name,
            "ms",
            [t * 1000 for t in ts],
            reference=(name == "python -c pass"),
        )
        if name == "config-reloader condition" and not ours_ok:
            cell.note = f"NOT WORKING YET (exit {probe.returncode}): {probe.stderr.strip()[-160:]}"
        res.cells.append(cell)
    res.commands = [" ".join(argv[:10]) + " ... " + " ; ".join(shlex.join(c) for c in cmds.values())]
    res.notes.append(
        f"{per_round * rounds} runs each, interleaved in {rounds} rounds of {per_round} (3 warm-ups "
        "each, order reversed every other round), hyperfine -N (no shell). Target: "
        "config-reloader condition <= 1.3 x python -c pass. Ratio per round: "
        + ", ".join(f"{r:.2f}x" for r in round_ratios)
        + "."
    )
    return res
