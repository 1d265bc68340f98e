"""deploy/systemd: the units pass ``systemd-analyze verify`` and their config-reloader command
lines parse with our CLI; the ExecCondition= command answers with an exit status that systemd
reads as "start" (0) or "skip" (1-254), never as a failure (255 or a signal).

``systemd-analyze verify`` needs every Exec*= binary to exist: the units name
``/opt/config-reloader/bin/config-reloader`` (the documented venv); the test verifies copies in
which that path is replaced by the console script installed here.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import childproc
import pytest

from config_reloader.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
UNIT_DIR = REPO / "deploy" / "systemd"
UNIT_BINARY = "/opt/config-reloader/bin/config-reloader"
UNITS = sorted(p.name for p in UNIT_DIR.glob("*.service"))


def _installed_binary() -> str:
    path = childproc.console_script()
    assert path, "config-reloader console script not installed (pip install -e .)"
    return os.path.realpath(path)


def _exec_lines(unit: Path) -> dict[str, list[list[str]]]:
    """Exec*= command lines of a unit file (continuation lines joined), split like systemd."""
    text = unit.read_text().replace("\\\n", " ")
    out: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Exec") and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(shlex.split(value))
    return out


def _substituted_copy(tmp_path: Path) -> list[Path]:
    binary = _installed_binary()
    out = []
    for name in UNITS:
        dst = tmp_path / name
        dst.write_text((UNIT_DIR / name).read_text().replace(UNIT_BINARY, binary))
        out.append(dst)
    return out


def test_units_exist() -> None:
    assert {"prometheus.service", "prometheus-config-reloader.service"} <= set(UNITS)


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    sa = shutil.which("systemd-analyze")
    assert sa, "systemd-analyze missing (Debian package systemd)"
    units = _substituted_copy(tmp_path)
    r = childproc.run(
        [sa, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    output = r.stdout + r.stderr
    assert r.returncode == 0, output
    # Unknown keys or sections are only warnings for systemd: treat any remark on our units as a defect.
    ours = [line for line in output.splitlines() if any(u in line for u in UNITS)]
    assert not ours, "\n".join(ours)


def test_verify_would_catch_a_missing_binary(tmp_path: Path) -> None:
    """Guards the guard: the unsubstituted path does not exist here, and verify says so."""
    assert not os.path.exists(UNIT_BINARY)
    unit = tmp_path / "prometheus.service"
    unit.write_text((UNIT_DIR / "prometheus.service").read_text())
    r = childproc.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode != 0
    assert UNIT_BINARY in r.stdout + r.stderr


def _reloader_command_lines() -> list[tuple[str, str, list[str]]]:
    out = []
    for name in UNITS:
        for key, lines in _exec_lines(UNIT_DIR / name).items():
            for argv in lines:
                if argv and argv[0] == UNIT_BINARY:
                    out.append((name, key, argv[1:]))
    return out


RELOADER_LINES = _reloader_command_lines()


def test_reloader_and_condition_are_used() -> None:
    keys = {(name, key, argv[0]) for name, key, argv in RELOADER_LINES}
    assert ("prometheus.service", "ExecCondition", "condition") in keys
    assert ("prometheus-config-reloader.service", "ExecStart", "watch") in keys


@pytest.mark.parametrize("name,key,argv", RELOADER_LINES, ids=[f"{n}:{k}" for n, k, _ in RELOADER_LINES])
def test_unit_command_lines_parse(name: str, key: str, argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    func = getattr(args, "func", None)
    assert callable(func), f"{name} {key}: no handler"
    assert func.__module__.rsplit(".", 1)[-1] == argv[0].replace("-", "_")


def test_exec_condition_exit_status_is_start_or_skip() -> None:
    """systemd.service(5), ExecCondition=: 0 continues, 1-254 skips the unit, 255 or death by
    signal fails it. Our condition command must answer 0 or 1-254 for a well-formed condition,
    on whatever CPU this runs."""
    binary = _installed_binary()
    (argv,) = [a for n, k, a in RELOADER_LINES if k == "ExecCondition"]
    build_parser().parse_args(argv)  # a usage error (argparse exits 2) must not pass as "skip"
    r = childproc.run([binary, *argv], capture_output=True, text=True, timeout=60)
    assert 0 <= r.returncode <= 254, f"exit {r.returncode}: {r.stderr}"


def test_exec_condition_fails_the_unit_on_bad_input() -> None:
    """docs/conditions.md: with --exec-condition a misspelt feature name exits 255 (the unit fails)
    instead of 2 (which ExecCondition= takes as a silent skip)."""
    binary = _installed_binary()
    (argv,) = [a for n, k, a in RELOADER_LINES if k == "ExecCondition"]
    assert "--exec-condition" in argv
    typo = [a.replace("ConditionCPUFeature=avx2", "ConditionCPUFeature=avx2x") for a in argv]
    assert typo != argv
    r = childproc.run([binary, *typo], capture_output=True, text=True, timeout=60)
    assert r.returncode == 255, f"exit {r.returncode}: {r.stderr}"
    assert "avx2x" in r.stderr
