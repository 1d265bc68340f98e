"""Syntax: prefixes, whitespace, case, resets, paths, unit files (rules verified on systemd 252)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config_reloader.conditions.parse import (
    TYPES,
    Condition,
    PathNotAcceptedError,
    parse_assignment,
    parse_assignments,
    parse_unit_file,
    parse_unit_text,
    simplify_path,
)
from config_reloader.errors import ConditionSyntaxError, UnknownConditionError


@pytest.mark.parametrize(
    ("text", "trigger", "negate", "parameter"),
    [
        ("ConditionCPUFeature=avx2", False, False, "avx2"),
        ("ConditionCPUFeature=!avx2", False, True, "avx2"),
        ("ConditionCPUFeature=|avx2", True, False, "avx2"),
        ("ConditionCPUFeature=|!avx2", True, True, "avx2"),
        ("ConditionCPUFeature=| ! avx2", True, True, "avx2"),
        ("ConditionCPUFeature=!|avx2", False, True, "|avx2"),  # pipe must come first
        ("ConditionCPUFeature=  avx2 ", False, False, "avx2 "),  # leading stripped, trailing kept
        ("ConditionCPUFeature=avx2 sse2", False, False, "avx2 sse2"),  # one token, no splitting
        ("ConditionEnvironment=!", False, True, ""),
        ("ConditionPathExists=|!/etc", True, True, "/etc"),
        ("ConditionPathExists=//etc/./passwd/", False, False, "/etc/passwd"),
    ],
)
def test_prefixes_and_whitespace(text: str, trigger: bool, negate: bool, parameter: str) -> None:
    c = parse_assignment(text, source="argv[1]")
    assert c is not None
    assert (c.trigger, c.negate, c.parameter, c.source) == (trigger, negate, parameter, "argv[1]")


def test_kind_and_type_and_str_round_trip() -> None:
    c = parse_assignment("AssertCPUFeature=|!avx2")
    assert c == Condition("Assert", "CPUFeature", True, True, "avx2", "argv")
    assert str(c) == "AssertCPUFeature=|!avx2"
    assert c.name == "AssertCPUFeature"


@pytest.mark.parametrize(
    "text", ["ConditionPathExists=| /etc", "ConditionPathExists=! /etc", "ConditionPathExists=etc"]
)
def test_path_types_do_not_skip_whitespace_and_need_absolute(text: str) -> None:
    with pytest.raises(PathNotAcceptedError, match="not absolute"):
        parse_assignment(text)


def test_non_normalized_path_is_refused() -> None:
    with pytest.raises(PathNotAcceptedError, match="normalized"):
        parse_assignment("ConditionPathExists=/etc/../x")


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("conditionPathExists=/etc", "ConditionPathExists"),
        ("ConditionPathexists=/etc", "ConditionPathExists"),
        ("ConditionCpuFeature=avx2", "ConditionCPUFeature"),
        ("AssertCPUFeatures=avx2", "AssertCPUFeature"),
    ],
)
def test_types_are_case_sensitive_with_suggestions(text: str, suggestion: str) -> None:
    with pytest.raises(UnknownConditionError) as info:
        parse_assignment(text)
    assert suggestion in info.value.suggestions
    assert suggestion in str(info.value)


def test_unknown_and_missing_equals() -> None:
    with pytest.raises(UnknownConditionError):
        parse_assignment("Foo=bar")
    with pytest.raises(UnknownConditionError):
        parse_assignment("ConditionNull=true")  # removed before 252
    with pytest.raises(ConditionSyntaxError, match="expected Condition"):
        parse_assignment("ConditionCPUFeature")


def test_empty_value_is_reset_marker() -> None:
    assert parse_assignment("ConditionCPUFeature=") is None
    assert parse_assignment("ConditionPathExists=   ") is None


def test_reset_clears_all_types_of_the_same_kind_only() -> None:
    conds = parse_assignments(
        [
            "ConditionCPUFeature=avx2",
            "ConditionPathExists=/etc",
            "AssertPathExists=/etc",
            "ConditionEnvironment=",  # resets every Condition*, keeps asserts
            "ConditionHost=x",
        ]
    )
    assert [str(c) for c in conds] == ["AssertPathExists=/etc", "ConditionHost=x"]
    assert [c.source for c in conds] == ["argv[3]", "argv[5]"]


def test_compat_drops_bad_paths_with_a_warning() -> None:
    warnings: list[str] = []
    conds = parse_assignments(
        ["ConditionPathExists=etc", "ConditionHost=x"], systemd_compat=True, warn=warnings.append
    )
    assert [str(c) for c in conds] == ["ConditionHost=x"]
    assert len(warnings) == 1 and "not absolute" in warnings[0]
    with pytest.raises(PathNotAcceptedError):
        parse_assignments(["ConditionPathExists=etc"])


def test_simplify_path() -> None:
    assert simplify_path("//a//b/./c/") == "/a/b/c"
    assert simplify_path("/") == "/"
    assert simplify_path("/a/../b") == "/a/../b"


def test_type_table_has_every_252_and_261_type() -> None:
    from config_reloader.conditions.names import TYPES_252, TYPES_NEWER

    assert len(TYPES_252) == len(set(TYPES_252)) == 33
    assert {"CPUFeature", "Memory", "CPUs", "OSRelease", "CPUPressure", "Credential"} <= set(TYPES_252)
    # systemd 261's condition.h: 37 types; ours has KernelVersion besides Version (its alias)
    assert len(TYPES) == len(set(TYPES)) == 38 and set(TYPES) == set(TYPES_252) | set(TYPES_NEWER)


def test_newer_types_are_unknown_to_systemd_252() -> None:
    newer = ("ConditionVersion", "AssertKernelModuleLoaded", "ConditionPathIsSocket", "ConditionFraction")
    for name in newer:
        assert parse_assignment(f"{name}=/x") is not None
        with pytest.raises(UnknownConditionError, match="newer than systemd 252"):
            parse_assignment(f"{name}=/x", systemd_compat=True)
        with pytest.raises(UnknownConditionError, match="newer than systemd 252"):
            parse_assignments([f"{name}="], systemd_compat=True)  # a reset too, as 252 cannot parse it
    warnings: list[str] = []
    text = "[Unit]\nConditionMachineTag=x\nConditionHost=y\n"
    conds = parse_unit_text(text, systemd_compat=True, warn=warnings.append)
    assert [c.type for c in conds] == ["Host"]  # 252: "Unknown key ... in section [Unit], ignoring."
    assert len(warnings) == 1 and "unit:2: ConditionMachineTag= is newer than systemd 252" in warnings[0]
    assert [c.type for c in parse_unit_text("[Unit]\nConditionMachineTag=x\n")] == ["MachineTag"]


UNIT = """\
# a comment
[Unit]
Description=demo
ConditionCPUFeature=avx2
; another comment
ConditionPathExists=\\
# comment inside a continuation
  /etc
  AssertArchitecture = x86-64  \n\
After=network.target

[Service]
ConditionPathExists=/ignored-in-service
ExecStart=/bin/true

[Unit]
ConditionHost=|myhost
"""


def test_unit_file(tmp_path: Path) -> None:
    path = tmp_path / "demo.service"
    path.write_text(UNIT)
    conds = parse_unit_file(str(path))
    assert [str(c) for c in conds] == [
        "ConditionCPUFeature=avx2",
        "ConditionPathExists=/etc",
        "AssertArchitecture=x86-64",
        "ConditionHost=|myhost",
    ]
    assert conds[0].source == f"{path}:4"
    assert conds[2].source.endswith(":9")


def test_unit_file_continuation_joins_with_space_and_path_is_refused() -> None:
    # "ConditionPathExists=\\" + "/etc" -> value " /etc" stripped -> "/etc"
    conds = parse_unit_text("[Unit]\nConditionPathExists=\\\n/etc\n")
    assert [c.parameter for c in conds] == ["/etc"]


def test_unit_file_reset() -> None:
    conds = parse_unit_text("[Unit]\nConditionPathExists=/x\nAssertHost=a\nConditionCPUs=\nConditionHost=b\n")
    assert [str(c) for c in conds] == ["AssertHost=a", "ConditionHost=b"]


def test_unit_file_errors_carry_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.service"
    path.write_text("[Unit]\nDescription=x\nConditionCpuFeature=avx2\n")
    with pytest.raises(UnknownConditionError, match=r"bad\.service:3"):
        parse_unit_file(str(path))
    path.write_text("[Unit]\nConditionPathExists\n")
    with pytest.raises(ConditionSyntaxError) as info:
        parse_unit_file(str(path))
    assert info.value.line == 2 and "bad.service:2" in str(info.value)
    path.write_text("[Unit\nConditionHost=x\n")
    with pytest.raises(ConditionSyntaxError, match="section header"):
        parse_unit_file(str(path))
    with pytest.raises(ConditionSyntaxError, match="cannot read"):
        parse_unit_file(str(tmp_path / "missing.service"))


def test_unit_file_compat_ignores_unknown_keys() -> None:
    conds = parse_unit_text("[Unit]\nconditionHost=x\nConditionFoo=1\nConditionHost=y\n", systemd_compat=True)
    assert [str(c) for c in conds] == ["ConditionHost=y"]


def test_unit_file_dropins_apply_in_order_and_can_reset(tmp_path: Path) -> None:
    unit = tmp_path / "app.service"
    unit.write_text("[Unit]\nConditionPathExists=/x\nAssertHost=a\n")
    d = tmp_path / "app.service.d"
    d.mkdir()
    (d / "20-more.conf").write_text("[Unit]\nConditionHost=%n\n")
    (d / "10-reset.conf").write_text("[Unit]\nConditionPathExists=\n")
    (d / "ignored.txt").write_text("[Unit]\nConditionHost=ignored\n")
    conds = parse_unit_file(str(unit))
    assert [str(c) for c in conds] == ["AssertHost=a", "ConditionHost=app.service"]
    assert conds[1].source == f"{d / '20-more.conf'}:2"
    assert [str(c) for c in parse_unit_file(str(unit), dropins=False)] == [
        "ConditionPathExists=/x",
        "AssertHost=a",
    ]
