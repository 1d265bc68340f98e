"""The condition types newer than systemd 252, against the systemd-analyze 252 installed here.

No newer ``systemd-analyze`` is installable, so the semantics of the new types are checked with
systemd's own test cases (tests/unit/conditions/test_checks_261.py). This file checks what 252
itself can tell: ``--systemd-compat`` answers exactly like 252 for every input that mentions a
newer type (252 cannot parse it on the command line and ignores the key in a unit file), and for
the inputs whose meaning changed after 252 (``ConditionKernelVersion=`` became an alias of
``ConditionVersion=``; ``ConditionHost=`` learned the boot ID).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import childproc
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from config_reloader.cli import main
from config_reloader.conditions.names import TYPES_NEWER

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"),
]


def systemd(args: Sequence[str], *, unit_dir: str | None = None, unit: str | None = None) -> int:
    cmd = ["systemd-analyze", *([f"--unit={unit}"] if unit else []), "condition", *args]
    env = dict(os.environ)
    if unit_dir is not None:
        env["SYSTEMD_UNIT_PATH"] = f"{unit_dir}:"
    return childproc.run(cmd, capture_output=True, text=True, timeout=30, env=env, check=False).returncode


def ours(args: Sequence[str], *, compat: bool = True) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["condition", *(["--systemd-compat"] if compat else []), "-q", *args])


BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()

NEWER = {
    "Version": ["systemd >= 1", ">=1", "glibc $= ?*", "kernel *"],
    "KernelModuleLoaded": ["ext4", "idefinitelydontexist"],
    "PathIsSocket": ["/run", "/nonexistent"],
    "Fraction": ["100%", "canary 0%"],
    "MachineTag": ["*"],
}


def test_newer_types_are_rejected_like_252() -> None:
    assert set(NEWER) == set(TYPES_NEWER)
    cases = 0
    for type_, params in NEWER.items():
        for kind in ("Condition", "Assert"):
            for p in [*params, "", f"!{params[0]}", f"|{params[0]}"]:
                args = [f"{kind}{type_}={p}", "ConditionPathExists=/etc"]
                want = systemd(args)
                assert want == 1, args  # "Cannot parse"
                assert ours(args) == want, args
                assert ours(args, compat=False) in (0, 1), args  # evaluated without --systemd-compat
                cases += 1
    assert cases >= 40


def test_unit_file_keys_of_newer_types_are_ignored_like_252(tmp_path: Path) -> None:
    for type_, params in NEWER.items():
        for kind, extra, want in (
            ("Condition", "ConditionPathExists=/etc", 0),
            ("Assert", "ConditionPathExists=/nonexistent", 1),
        ):
            name = f"new-{kind.lower()}-{type_.lower()}.service"
            body = f"[Unit]\n{kind}{type_}={params[0]}\n{kind}{type_}=!{params[0]}\n{extra}\n"
            (tmp_path / name).write_text(body + "[Service]\nExecStart=/bin/true\n")
            got_systemd = systemd([], unit_dir=str(tmp_path), unit=name)
            assert got_systemd == want, name
            assert ours(["--unit", str(tmp_path / name)]) == got_systemd, name


@pytest.mark.parametrize(
    "value",
    [
        "systemd > 42",
        "!systemd > 42",
        "systemd",
        "glibc",
        "kernel",
        "kernel *",
        "!kernel *",
        "systemd > 42 < 9000",
        "!systemd > 42 < 9000",
        "> 0.1.2 < 9.0.0",
        "systemd>",
        ">",
        "'>0.1.2' '<9.0.0'",
    ],
)
def test_kernel_version_keeps_252_meaning_under_compat(value: str) -> None:
    args = [f"ConditionKernelVersion={value}"]
    assert ours(args) == systemd(args), args


@pytest.mark.parametrize(
    "value",
    [BOOT_ID, BOOT_ID.replace("-", ""), f"!{BOOT_ID}", Path("/etc/machine-id").read_text().strip()],
)
def test_host_ids_keep_252_meaning_under_compat(value: str) -> None:
    args = [f"ConditionHost={value}"]
    assert ours(args) == systemd(args), args


# --- version expressions: 261's ConditionVersion=kernel against 252's ConditionKernelVersion= -----
# systemd 261 evaluates the expression after "kernel" with the same function that 252 uses for the
# whole ConditionKernelVersion= value, so 252's systemd-analyze is an oracle for it.
RELEASE = os.uname().release
_MAJOR_MINOR = ".".join(RELEASE.split(".")[:2])
_VERSIONS = (RELEASE, _MAJOR_MINOR, "0.1.2", "9999", "*", RELEASE[:2] + "*", "?*", RELEASE + "~rc1", "")
_OPS = ("", "<", "<=", "=", "==", "!=", "<>", ">=", ">", "$=", "!$=")


@st.composite
def version_expression(draw: st.DrawFn) -> str:
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        term = (
            draw(st.sampled_from(_OPS))
            + draw(st.sampled_from(("", " ", "  ")))
            + draw(st.sampled_from(_VERSIONS))
        )
        quote = draw(st.sampled_from(("", "'", '"')))
        terms.append(f"{quote}{term}{quote}")
    return draw(st.sampled_from((" ", "  "))).join(terms)


def _systemd_verdict(assignment: str) -> str:
    """ "true", "false" or "error" from 252: an error fails even when negated."""
    name, _, value = assignment.partition("=")
    plain, negated = systemd([assignment]), systemd([f"{name}=!{value}"])
    return {(0, 1): "true", (1, 0): "false"}.get((plain, negated), "error")


def _our_verdict(assignment: str) -> str:
    status = ours([assignment], compat=False)
    return {0: "true", 1: "false"}.get(status, "error")


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(version_expression())
def test_version_kernel_expressions_match_252(expression: str) -> None:
    assume(not expression.startswith("!"))  # a leading "!" would be the negation prefix
    want = _systemd_verdict(f"ConditionKernelVersion={expression}")
    assert _our_verdict(f"ConditionVersion=kernel {expression}") == want, expression
    if not expression.lstrip().startswith(("systemd", "glibc", "kernel")):
        assert _our_verdict(f"ConditionVersion={expression}") == want, expression
    # and --systemd-compat gives 252's exit status for the 252 type itself
    assert ours([f"ConditionKernelVersion={expression}"]) == systemd([f"ConditionKernelVersion={expression}"])


# systemd's test/test-execute/exec-basic.service, its [Unit] section (the copy that could be read
# has these four ConditionKernelVersion= lines; newer copies add ConditionVersion= lines, which the
# unit tests cover with the cases of test-condition.c).
EXEC_BASIC = """\
[Unit]
Description=Test for basic execution
ConditionKernelVersion=">=3.0"
ConditionKernelVersion=">=2.0" "<=60" "!=1.4"
ConditionKernelVersion=" >= 2.0" " <= 60 " "!= 1.4"
ConditionKernelVersion=" >= 2.0" " * " "*.*"

[Service]
ExecStart=/bin/true
Type=oneshot
"""


def test_exec_basic_unit_of_systemd(tmp_path: Path) -> None:
    unit = tmp_path / "exec-basic.service"
    unit.write_text(EXEC_BASIC)
    want = systemd([], unit_dir=str(tmp_path), unit=unit.name)
    assert want == 0  # a kernel from 3.0 to 60
    assert ours(["--unit", str(unit)]) == want
    assert ours(["--unit", str(unit)], compat=False) == want
    versions = unit.read_text().replace("ConditionKernelVersion=", "ConditionVersion=kernel ")
    unit.write_text(versions)
    assert ours(["--unit", str(unit)], compat=False) == want
