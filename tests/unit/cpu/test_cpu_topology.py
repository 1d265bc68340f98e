from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_reloader.cpu import format_cpulist, hwcaps, parse_cpulist
from config_reloader.cpu.topology import online_cpus, possible_cpus


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("", set()),
        ("0", {0}),
        ("0-3,8", {0, 1, 2, 3, 8}),
        (" 0-1 , 4-5\n", {0, 1, 4, 5}),
        ("0-7:2", {0, 2, 4, 6}),
        ("3,1,2", {1, 2, 3}),
    ],
)
def test_parse_cpulist(text: str, cpus: set[int]) -> None:
    assert parse_cpulist(text) == cpus


@pytest.mark.parametrize("bad", ["a", "3-1", "-1", "1-", "0-3:0", "1,,x"])
def test_parse_cpulist_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="cpulist"):
        parse_cpulist(bad)


def test_format_cpulist() -> None:
    assert format_cpulist([8, 0, 1, 2, 3]) == "0-3,8"
    assert format_cpulist([]) == ""
    assert format_cpulist({5}) == "5"


@given(st.sets(st.integers(min_value=0, max_value=300)))
def test_cpulist_roundtrip(cpus: set[int]) -> None:
    assert parse_cpulist(format_cpulist(cpus)) == cpus


def test_sysfs_root(tmp_path: Path) -> None:
    d = tmp_path / "devices/system/cpu"
    d.mkdir(parents=True)
    (d / "online").write_text("0-2,5\n")
    (d / "possible").write_text("0-7\n")
    assert online_cpus(str(tmp_path)) == frozenset({0, 1, 2, 5})
    assert possible_cpus(str(tmp_path)) == frozenset(range(8))
    assert online_cpus(str(tmp_path / "missing")) is None


def test_arm64_hwcaps_injected() -> None:
    vals = {
        hwcaps.AT_HWCAP: (1 << 0) | (1 << 1) | (1 << 22) | (1 << 32),
        hwcaps.AT_HWCAP2: (1 << 1) | (1 << 17),
        hwcaps.AT_HWCAP3: 1,
    }
    assert hwcaps.decode_hwcaps(vals) == {"fp", "asimd", "sve", "gcs", "sve2", "bti", "mtefar"}
    assert hwcaps.decode_hwcaps({}) == frozenset()
    calls: list[int] = []

    def fake_getauxval(t: int) -> int:
        calls.append(t)
        return vals.get(t, 0)

    assert hwcaps.read_auxv_hwcaps(fake_getauxval) == vals
    assert calls == [16, 26, 29]


def test_arm64_machine_checks() -> None:
    from config_reloader.cpu import check_features
    from config_reloader.cpu.model import CpuFeatures, MachineFeatures

    names = hwcaps.decode_hwcaps({hwcaps.AT_HWCAP: 1 << 22})
    f = CpuFeatures(0, names, names, names, frozenset())
    m = MachineFeatures("arm64", "hwcaps", {0: f, 1: f})
    assert check_features(m, ["arm64.sve"]).result is True
    assert check_features(m, ["SVE"]).result is True  # unprefixed: the machine's own table
    assert check_features(m, ["avx2"]).result is False  # an x86 name on arm64
    assert check_features(m, ["x86-64.avx2"]).result is False
