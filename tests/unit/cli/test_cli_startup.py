"""Start-up guard for ``config-reloader condition`` (budget B1 in docs/design.md:
within 1.3x of ``python -c pass``).

These tests pin *what* the command imports, never how long it takes (timing belongs in ``bench/``):
a heavy module creeping onto the path (dataclasses pulls inspect/ast/dis, logging, argparse, the
reloader's asyncio/aiohttp stack) fails here with its name, on any machine, under any load.
They also check that the argparse-free fast path parses exactly like argparse.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import childproc
import pytest

import config_reloader
from config_reloader.cli import build_parser, main
from config_reloader.cli.condition import DEFAULTS, ConditionArgs, parse_fast
from config_reloader.cpu import native

# Never imported by `condition ConditionCPUFeature=...` (whatever the machine answers).
HEAVY = (
    "dataclasses",
    "inspect",
    "ast",
    "logging",
    "asyncio",
    "aiohttp",
    "prometheus_client",
    "platform",
    "json",
    "subprocess",
    "difflib",
    "threading",  # the pinned CPUID worker uses _thread
    "config_reloader.cpu.microarch",  # archspec's table: only for microarchitecture names
    "config_reloader.cpu.elfnote",  # only for --binary
    "config_reloader.conditions.checks",
    "config_reloader.conditions.specifiers",  # only for values with a % specifier
    "config_reloader.conditions.virt",
    "config_reloader.cpu.capture",
    "config_reloader.reconcile",
    "config_reloader.watch",
    "config_reloader.metrics",
    "config_reloader.errors.reloader",  # the reloader's 16 exception classes
)
# ...and, for a command line of assignments only, not argparse either (the fast path).
# `re` (with enum, functools, collections: ~4.8 ms): the fast path does not need it (the command
# is a plain script because pip's entry-point wrapper imports it);
# `importlib`: the lazy names of config_reloader.cpu use __import__.
FAST_PATH_HEAVY = (*HEAVY, "argparse", "gettext", "locale", "re", "importlib")

ASSIGNMENT = "ConditionCPUFeature=avx2"
SRC = str(Path(config_reloader.__file__).resolve().parent.parent)

# Runs the CLI like the console script does, then prints every module name it imported that the
# bare interpreter had not (the modules of the interpreter and of site are in `before`).
_CHILD = """
import sys
before = set(sys.modules)
from config_reloader.cli import main
try:
    status = main(sys.argv[1:])
finally:
    sys.stdout.flush()
    sys.stderr.write("\\n".join("MODULE " + m for m in sorted(set(sys.modules) - before)) + "\\n")
raise SystemExit(status)
"""


def _imports_of(*argv: str, bare: bool = False) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the CLI in a child; ``bare``: without ``site`` (``python -S``), like an interpreter whose
    site-packages import nothing at start-up, so that ``typing``/``re`` are not already there."""
    code = _CHILD
    if bare:
        code = f"import sys; sys.path.insert(0, {SRC!r})\n{_CHILD}"
    flags = ["-S"] if bare else []
    proc = childproc.run(
        [sys.executable, *flags, "-c", code, *argv], capture_output=True, text=True, timeout=60, check=False
    )
    mods = {line[7:] for line in proc.stderr.splitlines() if line.startswith("MODULE ")}
    assert "config_reloader.cli" in mods, proc.stderr  # the marker lines were written
    return proc, mods


def _first_backend_works() -> bool:
    """An in-process CPUID backend answers here. When both are refused (not x86-64, no extension
    and MemoryDenyWriteExecute), the fallbacks may log at debug level (logging) or try
    ``modprobe cpuid`` (subprocess): allowed."""
    from config_reloader.cpu import probe_machine

    return probe_machine().backend in ("cpuid-native", "cpuid-stub")


def _banned(mods: set[str], banned: tuple[str, ...]) -> list[str]:
    if not _first_backend_works():
        banned = tuple(b for b in banned if b not in ("logging", "subprocess"))
    return sorted(m for m in mods if any(m == b or m.startswith(b + ".") for b in banned))


def test_condition_cpu_feature_imports_nothing_heavy() -> None:
    proc, mods = _imports_of("condition", ASSIGNMENT)
    assert proc.returncode in (0, 1), proc.stderr  # pass or fail, depending on this CPU
    assert f"{ASSIGNMENT} " in proc.stdout
    assert _banned(mods, FAST_PATH_HEAVY) == []
    # it did evaluate on the CPUs (not a shortcut that skipped the probe)
    assert {"config_reloader.cpu.probe", "config_reloader.cpu.cpuid"} <= mods


@pytest.mark.skipif(not native.available(), reason="the C extension is not built here")
def test_condition_cpu_feature_does_not_load_ctypes_with_the_extension() -> None:
    """ctypes (with libffi: ~1.2 ms) only serves the fallback backends."""
    proc, mods = _imports_of("condition", ASSIGNMENT)
    assert proc.returncode in (0, 1), proc.stderr
    assert "config_reloader.cpu.native" in mods
    assert _banned(mods, ("ctypes", "_ctypes")) == []


def test_condition_cpu_feature_needs_neither_typing_nor_re() -> None:
    """Without site's imports (python -S): typing (~3 ms with its dependencies) and re (~3 ms) are
    not pulled in by us; annotations are strings and typing is imported under TYPE_CHECKING only."""
    proc, mods = _imports_of("condition", ASSIGNMENT, bare=True)
    assert proc.returncode in (0, 1), proc.stderr
    assert _banned(mods, (*FAST_PATH_HEAVY, "typing", "re", "enum")) == []


def test_condition_with_options_uses_argparse_but_still_nothing_heavy() -> None:
    proc, mods = _imports_of("condition", "--view", "usable", "--cpus", "all", "-q", ASSIGNMENT)
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stdout == ""
    assert "argparse" in mods
    assert _banned(mods, HEAVY) == []


def test_python_m_importtime_lists_nothing_heavy() -> None:
    """The entry point the issue names: ``python -X importtime -m config_reloader condition ...``."""
    proc = childproc.run(
        [sys.executable, "-X", "importtime", "-m", "config_reloader", "condition", ASSIGNMENT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
    names = {ln.rsplit("|", 1)[1].strip() for ln in lines}
    # importtime lists only what this process imported after start-up; site's own imports
    # (e.g. a sandbox's certifi .pth) come before `config_reloader` and are not ours.
    order = [ln.rsplit("|", 1)[1].strip() for ln in lines]
    ours = set(order[order.index("config_reloader") :]) if "config_reloader" in order else names
    assert "config_reloader" in names
    assert _banned(ours, FAST_PATH_HEAVY) == []


@pytest.mark.parametrize(
    "argv",
    [
        [ASSIGNMENT],
        [ASSIGNMENT, "AssertArchitecture=x86-64", "ConditionPathExists=|!/nonexistent"],
        ["ConditionCPUFeature="],  # an empty assignment (a reset) is still an assignment
        ["ConditionCPUFeature=!avx512f"],
    ],
)
def test_fast_path_parses_like_argparse(argv: list[str]) -> None:
    fast = parse_fast(argv)
    assert isinstance(fast, ConditionArgs)
    slow = build_parser("condition").parse_args(["condition", *argv])
    assert vars(fast) == {k: v for k, v in vars(slow).items() if k != "subcommand"}


def test_defaults_table_is_the_parsers() -> None:
    slow = build_parser("condition").parse_args(["condition", ASSIGNMENT])
    assert {k: getattr(slow, k) for k in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize(
    "argv",
    [[], ["--json", ASSIGNMENT], [ASSIGNMENT, "-q"], ["--help"], ["--", ASSIGNMENT], ["-"]],
)
def test_fast_path_declines_options(argv: list[str]) -> None:
    assert parse_fast(argv) is None


def test_options_after_assignments_still_work(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["condition", "ConditionPathExists=/", "--json"])
    out = capsys.readouterr().out
    assert status == 0 and out.lstrip().startswith("{") and '"ok": true' in out


def test_main_with_argv_returns_to_its_caller(capsys: pytest.CaptureFixture[str]) -> None:
    """main(argv) called by a caller (this test) returns: only the program ends without teardown."""
    assert main(["condition", "ConditionPathExists=/"]) == 0
    assert capsys.readouterr().out.endswith("Conditions succeeded.\n")


def test_program_exit_keeps_output_and_status() -> None:
    """As a program (`python -m`), output is complete and the status right (exit without teardown)."""
    for assignment, status in (("ConditionPathExists=/", 0), ("ConditionPathExists=/nonexistent-cr", 1)):
        proc = childproc.run(
            [sys.executable, "-m", "config_reloader", "condition", assignment],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == status, proc.stderr
        assert proc.stdout.endswith("Conditions succeeded.\n" if status == 0 else "Conditions failed.\n")
