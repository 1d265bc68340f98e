"""Per-type semantics: version comparison, sizes, PSI thresholds, operators, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config_reloader.conditions import checks, identity, machine, paths, resources, security, system
from config_reloader.conditions.base import Context
from config_reloader.conditions.values import compare_versions, parse_size
from config_reloader.errors import ConditionSyntaxError, NotSupportedHere

DUMPS = Path(__file__).resolve().parents[2] / "data" / "cpuid-dumps"


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("6.18.44", "6.18.44", 0),
        ("6.18.44-fc-v657", "6", 1),
        ("6.18", "6.9", 1),  # numeric, not lexical
        ("5.10", "5.010", 0),  # leading zeros ignored
        ("1.0~rc1", "1.0", -1),  # ~ sorts before the end
        ("1.0", "1.0^1", -1),  # the end is older
        ("1.0^1", "1.0.1", -1),  # a separator is older than anything but the end
        ("1.0-1", "1.0", 1),  # the end is older than anything but ~
        ("1.0-1", "1.0.1", -1),  # - is older than any other separator
        ("1.0a", "1.0", 1),
        ("1.0", "1.0.1", -1),
        ("12", "11", 1),
        ("a", "1", -1),  # digits newer than letters
    ],
)
def test_compare_versions(a: str, b: str, want: int) -> None:
    assert compare_versions(a, b) == want
    assert compare_versions(b, a) == -want


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("512", 512),
        ("1K", 1024),
        ("1.5G", 3 * 2**29),
        ("1G 512M", 2**30 + 2**29),
        ("2 M", 2 * 2**20),
        ("10B", 10),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "foo", "1k", "1KiB", "1K 2K", "-1", "1%", "1G x"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def ctx(**kw: object) -> Context:
    return Context(**kw)  # type: ignore[arg-type]


def test_environment_uses_given_environ() -> None:
    c = ctx(environ={"A": "1", "B": ""})
    assert identity.check_environment("A", c).value
    assert identity.check_environment("A=1", c).value
    assert not identity.check_environment("A=2", c).value
    assert identity.check_environment("B=", c).value
    assert not identity.check_environment("C", c).value


def test_memory_and_cpus_default_to_ge_and_compare() -> None:
    mem = resources.physical_memory()
    assert mem > 0
    c = ctx()
    assert resources.check_memory(str(mem), c).value
    assert not resources.check_memory(str(mem + 1), c).value
    assert resources.check_memory(f"<{mem + 1}", c).value
    assert resources.check_memory(f"!={mem}", c).value is False
    n = len(os.sched_getaffinity(0))
    assert resources.check_cpus(str(n), c).value
    assert resources.check_cpus(f"={n}", c).value
    assert not resources.check_cpus(f">{n}", c).value
    with pytest.raises(ConditionSyntaxError, match="not a size"):
        resources.check_memory("lots", c)
    with pytest.raises(ConditionSyntaxError, match="not a number"):
        resources.check_cpus("two", c)


def test_kernel_version_expressions() -> None:
    release = os.uname().release
    major = int(release.split(".")[0])
    c = ctx()
    assert system.check_kernel_version(f">={major} <{major + 1}", c).value
    assert not system.check_kernel_version(f">{major} <{major}", c).value
    assert system.check_kernel_version(f"{major}.*", c).value  # glob without operator
    assert not system.check_kernel_version(str(major), c).value  # glob must match the whole release
    assert system.check_kernel_version(f"= {release}", c).value  # space after the first operator
    with pytest.raises(ConditionSyntaxError):
        system.check_kernel_version(">", c)


def test_os_release_syntax_errors_and_compat(tmp_path: Path) -> None:
    with pytest.raises(ConditionSyntaxError, match="KEY OP VALUE"):
        system.check_os_release("ID = debian", ctx())
    with pytest.raises(ConditionSyntaxError):
        system.check_os_release("FOO=", ctx())
    assert system.check_os_release("NO_SUCH_KEY!=x", ctx()).value


def test_capability_names() -> None:
    c = ctx()
    assert security.check_capability("cap_chown", c).detail["capbnd"]
    with pytest.raises(ConditionSyntaxError, match="CAP_SYS_ADMIN"):
        security.check_capability("CAP_SYS_ADMN", c)


def test_unknown_values_are_errors_by_default_and_false_in_compat() -> None:
    for fn, bad in (
        (machine.check_architecture, "amd64"),
        (machine.check_virtualization, "dockr"),
        (security.check_security, "selinx"),
        (machine.check_firmware, "bios"),
    ):
        with pytest.raises(ConditionSyntaxError, match=r"did you mean|expected"):
            fn(bad, ctx())
        assert fn(bad, ctx(systemd_compat=True)).value is False


def test_architecture_suggests_systemd_name() -> None:
    with pytest.raises(ConditionSyntaxError, match="x86-64"):
        machine.check_architecture("amd64", ctx())


def test_control_group_controller_unknown_names() -> None:
    with pytest.raises(ConditionSyntaxError, match="unknown cgroup controller"):
        resources.check_control_group_controller("cpu bogus", ctx())
    assert resources.check_control_group_controller("bogus", ctx(systemd_compat=True)).value


def test_psi_threshold_syntax() -> None:
    c = ctx()
    if not os.path.exists("/proc/pressure"):
        pytest.skip("no PSI")
    assert resources.check_cpu_pressure("100%", c).value
    assert resources.check_memory_pressure("100%/10sec", c).value
    for bad in ("5", "101%", "50%/2min", "abc%"):
        with pytest.raises(ConditionSyntaxError):
            resources.check_io_pressure(bad, c)


def test_first_boot_and_needs_update_not_supported_by_default() -> None:
    with pytest.raises(NotSupportedHere):
        system.check_first_boot("yes", ctx())
    with pytest.raises(NotSupportedHere):
        system.check_needs_update("/etc", ctx())
    assert isinstance(system.check_first_boot("no", ctx(systemd_compat=True)).value, bool)


def test_path_checks(tmp_path: Path) -> None:
    c = ctx()
    f = tmp_path / "f"
    f.write_text("x")
    (tmp_path / "e").write_text("")
    d = tmp_path / "d"
    d.mkdir()
    (d / ".hidden").write_text("")
    (d / "backup~").write_text("")
    assert paths.check_path_exists(str(f), c).value
    assert not paths.check_path_exists(str(tmp_path / "nope"), c).value
    assert paths.check_file_not_empty(str(f), c).value
    assert not paths.check_file_not_empty(str(tmp_path / "e"), c).value
    assert not paths.check_directory_not_empty(str(d), c).value  # hidden and backup files ignored
    (d / "real").write_text("")
    assert paths.check_directory_not_empty(str(d), c).value
    assert not paths.check_file_is_executable(str(f), c).value
    f.chmod(0o744)
    assert paths.check_file_is_executable(str(f), c).value
    assert paths.check_path_exists_glob(str(tmp_path / "?"), c).value
    assert paths.check_path_is_mount_point("/", c).value
    assert not paths.check_path_is_mount_point(str(d), c).value


def test_checks_table_covers_every_type() -> None:
    from config_reloader.conditions.parse import TYPES

    assert set(checks.CHECKS) == set(TYPES)


def test_architecture_from_capture() -> None:
    from config_reloader.cpu import load_capture

    captured = load_capture(str(DUMPS / "amd-zen4-ryzen-7-7700x.txt"))
    assert machine.check_architecture("x86-64", ctx(machine=captured)).value
    assert not machine.check_architecture("arm64", ctx(machine=captured)).value


def test_conditions_modules_stay_small_and_public() -> None:
    """Each module has one job (at most ~400 lines); no private module for others to reach into."""
    package = Path(checks.__file__).parent
    for module in package.glob("*.py"):
        assert len(module.read_text().splitlines()) <= 400, module.name
        assert module.name == "__init__.py" or not module.name.startswith("_"), module.name
