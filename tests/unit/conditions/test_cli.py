"""`config-reloader condition`: exit statuses, output, --json, --unit, --cpu-data, --systemd-compat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config_reloader.cli import main

DUMPS = Path(__file__).resolve().parents[2] / "data" / "cpuid-dumps"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["condition", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_pass_fail_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "ConditionPathExists=/", "AssertPathExists=/")
    assert status == 0
    assert "ConditionPathExists=/ succeeded" in out
    assert out.splitlines()[-2:] == ["Asserts succeeded.", "Conditions succeeded."]
    status, out, _ = run(capsys, "ConditionPathExists=/nonexistent-cr")
    assert status == 1 and "does not exist" in out and out.endswith("Conditions failed.\n")
    status, out, _ = run(capsys, "AssertPathExists=/nonexistent-cr")
    assert status == 1 and "Asserts failed." in out


@pytest.mark.parametrize(
    ("arg", "needle"),
    [
        ("ConditionCpuFeature=avx2", "ConditionCPUFeature"),
        ("ConditionCPUFeature=avx512", "did you mean"),
        ("ConditionPathExists=relative", "not absolute"),
        ("ConditionMemory=lots", "not a size"),
        ("ConditionFirstBoot=yes", "PID 1"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], arg: str, needle: str
) -> None:
    status, out, err = run(capsys, arg)
    assert status == 2
    assert needle in err and out == ""


def test_systemd_compat_parse_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--systemd-compat", "ConditionCpuFeature=avx2")[0] == 1
    status, _, err = run(capsys, "--systemd-compat", "ConditionPathExists=relative")
    assert status == 0 and "ignored like systemd" in err
    assert run(capsys, "--systemd-compat", "ConditionCPUFeature=avx512f")[0] == 1  # unknown to systemd
    assert run(capsys, "--systemd-compat", "ConditionCPUFeature=!avx512f")[0] == 0


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--json", "ConditionPathExists=|!/", "AssertPathExists=/")
    assert status == 1
    doc = json.loads(out)
    assert doc["ok"] is False and doc["conditions_ok"] is False and doc["asserts_ok"] is True
    first = doc["results"][0]
    assert first["assignment"] == "ConditionPathExists=|!/"
    assert first["trigger"] is True and first["negate"] is True and first["passed"] is False
    assert first["source"] == "argv[1]"
    status, out, _ = run(capsys, "--json", "ConditionCPUFeature=avx512")
    assert status == 2
    err = json.loads(out)["error"]
    assert err["type"] == "UnknownFeatureError" and err["suggestions"]


def test_unit_file_and_argv_reset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    unit = tmp_path / "app.service"
    unit.write_text(
        "[Unit]\nConditionPathExists=/nonexistent-cr\nAssertPathExists=/\n[Service]\nExecStart=/bin/true\n"
    )
    status, out, _ = run(capsys, "--unit", str(unit))
    assert status == 1 and f"{unit}:2" not in out  # source is in --json, the text shows the assignment
    status, out, _ = run(capsys, "--json", "--unit", str(unit))
    assert json.loads(out)["results"][0]["source"] == f"{unit}:2"
    # an empty assignment on the command line resets the unit's conditions (not its asserts)
    status, out, _ = run(capsys, "--unit", str(unit), "ConditionPathExists=")
    assert status == 0 and "Asserts succeeded." in out and "Conditions" not in out


def test_cpu_data_capture(capsys: pytest.CaptureFixture[str]) -> None:
    dump = str(DUMPS / "intel-alderlake-i9-12900k.txt")
    status, out, _ = run(
        capsys, "--cpu-data", dump, "ConditionCPUFeature=avx2", "ConditionCPUFeature=x86-64-v3"
    )
    assert status == 0, out
    status, out, _ = run(capsys, "--cpu-data", dump, "ConditionCPUFeature=avx512f")
    assert status == 1 and "not usable on CPUs" in out
    assert run(capsys, "--cpu-data", dump, "--systemd-compat", "ConditionCPUFeature=avx2")[0] == 1
    assert run(capsys, "--cpu-data", "/nonexistent-cr.txt", "ConditionCPUFeature=avx2")[0] == 2


def test_view_and_cpus_flags(capsys: pytest.CaptureFixture[str]) -> None:
    dump = str(DUMPS / "amd-zen4-ryzen-7-7700x.txt")
    for view in ("cpu", "usable"):
        status, out, _ = run(capsys, "--cpu-data", dump, "--view", view, "--cpus", "any", "--json",
                             "ConditionCPUFeature=avx512f")  # fmt: skip
        assert status == 0
        assert json.loads(out)["results"][0]["detail"]["view"] == view


def test_no_arguments_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys)[0] == 2


def test_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "-q", "ConditionPathExists=/nonexistent-cr")
    assert (status, out, err) == (1, "", "")


def test_options_may_follow_assignments(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "ConditionPathExists=/", "--json", "AssertPathExists=/")
    assert status == 0
    assert [r["assignment"] for r in json.loads(out)["results"]] == [
        "ConditionPathExists=/",
        "AssertPathExists=/",
    ]


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["ConditionPathExists=/"], 0),
        (["ConditionPathExists=/nonexistent-cr"], 1),  # skip the unit
        (["AssertPathExists=/nonexistent-cr", "ConditionPathExists=/"], 255),  # fail the unit
        (["ConditionCPUFeature=avx512"], 255),  # a typo must not silently skip the unit
    ],
)
def test_exec_condition_statuses(capsys: pytest.CaptureFixture[str], args: list[str], status: int) -> None:
    assert run(capsys, "--exec-condition", *args)[0] == status
