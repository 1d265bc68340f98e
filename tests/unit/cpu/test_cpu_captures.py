"""Parsing the 15 real `cpuid -r` dumps against their truth table, and JSON captures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cpu_fakes import concat_dumps
from nonblocking import outcome_without_blocking

from config_reloader.cpu import check_features, load_capture, pin_set
from config_reloader.cpu.capture import (
    CAPTURE_LIMIT,
    NOTE_ASSUMED_XCR0,
    dump_capture,
    parse_capture,
    parse_cpuid_r,
)
from config_reloader.cpu.model import MachineFeatures
from config_reloader.cpu.topology import masked_leaves
from config_reloader.errors import CpuidError

# Expected truth as `cpuid -f` decodes each dump (tests/data/cpuid-dumps/README.md).
# file: (cpus, avx, avx2, avx512f, sha_ni, amx_tile, level)
TRUTH = {
    "intel-alderlake-i9-12900k.txt": (24, 1, 1, 0, 1, 0, 3),
    "intel-alderlake-i9-12900k-pcores-avx512.txt": (16, 1, 1, 1, 1, 0, 4),
    "intel-meteorlake-core-ultra-7-155h.txt": (22, 1, 1, 0, 1, 0, 3),
    "intel-sapphirerapids-xeon-w7-2475x.txt": (40, 1, 1, 1, 1, 1, 4),
    "intel-rocketlake-i9-11900k.txt": (16, 1, 1, 1, 1, 0, 4),
    "intel-sandybridge-e-i7-3930k.txt": (12, 1, 0, 0, 0, 0, 2),
    "intel-ivybridge-celeron-g1610.txt": (2, 0, 0, 0, 0, 0, 2),
    "intel-westmere-ep-xeon-x5667.txt": (16, 0, 0, 0, 0, 0, 2),
    "intel-penryn-core2-extreme-x9650.txt": (4, 0, 0, 0, 0, 0, 1),
    "intel-goldmontplus-pentium-silver-n5030.txt": (4, 0, 0, 0, 1, 0, 2),
    "amd-zen2-ryzen-9-3950x.txt": (32, 1, 1, 0, 1, 0, 3),
    "amd-zen3-ryzen-9-5900x.txt": (24, 1, 1, 0, 1, 0, 3),
    "amd-zen4-ryzen-7-7700x.txt": (16, 1, 1, 1, 1, 0, 4),
    "amd-zen5-ryzen-7-9700x.txt": (16, 1, 1, 1, 1, 0, 4),
    "qemu-kvm64.txt": (1, 0, 0, 0, 0, 0, 1),
}
NO_AES = {"intel-ivybridge-celeron-g1610.txt", "intel-penryn-core2-extreme-x9650.txt", "qemu-kvm64.txt"}
AVX_VNNI = {
    "intel-alderlake-i9-12900k.txt",
    "intel-alderlake-i9-12900k-pcores-avx512.txt",
    "intel-meteorlake-core-ultra-7-155h.txt",
    "intel-sapphirerapids-xeon-w7-2475x.txt",
    "amd-zen5-ryzen-7-9700x.txt",
}
NO_SSE42 = {"intel-penryn-core2-extreme-x9650.txt", "qemu-kvm64.txt"}


def test_truth_table_covers_all_dumps(dumps: Path) -> None:
    assert {p.name for p in dumps.glob("*.txt")} == set(TRUTH)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_dump_matches_truth_table(dumps: Path, name: str) -> None:
    ncpu, avx, avx2, avx512f, sha, amx, level = TRUTH[name]
    m = load_capture(str(dumps / name))
    assert m.backend == "capture:cpuid-r"
    assert NOTE_ASSUMED_XCR0 in m.notes
    assert sorted(m.cpus) == list(range(ncpu))
    expect = {
        "avx": avx,
        "avx2": avx2,
        "avx512f": avx512f,
        "sha_ni": sha,
        "amx_tile": amx,
        "aes": name not in NO_AES,
        "avx_vnni": name in AVX_VNNI,
        "sse4_2": name not in NO_SSE42,
        "popcnt": name not in NO_SSE42,
        "avx512_vnni": level == 4,
    }
    for feat, want in expect.items():
        chk = check_features(m, [feat])
        # the same answer on every CPU of one file (README: no ISA differences inside a file)
        assert chk.result is bool(want), (feat, chk.missing)
        assert set(chk.per_cpu.values()) == {bool(want)}
    for f in m.cpus.values():
        assert f is not None
        top = max(f.levels) if f.levels else None
        assert top == f"x86-64-v{level}"
    assert pin_set(m, [f"x86-64-v{level}"]) == set(range(ncpu))


def test_syscall_quirk_intel_windows_dumps(dumps: Path) -> None:
    # README note 1: Intel dumps taken outside 64-bit mode show SYSCALL clear; AMD shows it set.
    assert check_features(load_capture(str(dumps / "amd-zen3-ryzen-9-5900x.txt")), ["syscall"]).result
    assert not check_features(load_capture(str(dumps / "intel-rocketlake-i9-11900k.txt")), ["syscall"]).result


def test_hybrid_core_types_from_leaf_1a(dumps: Path) -> None:
    adl = load_capture(str(dumps / "intel-alderlake-i9-12900k.txt"))
    assert {c for c, f in adl.cpus.items() if f and f.core_type == "core"} == set(range(16))
    assert {c for c, f in adl.cpus.items() if f and f.core_type == "atom"} == set(range(16, 24))
    mtl = load_capture(str(dumps / "intel-meteorlake-core-ultra-7-155h.txt"))
    p = {c for c, f in mtl.cpus.items() if f and f.core_type == "core"}
    assert p == {0, 1, *range(10, 20)}
    # ISA identical on P and E cores
    views = {f.usable for f in mtl.cpus.values() if f}
    assert len(views) == 1


def test_masked_leaves_equal_on_homogeneous_dump(dumps: Path) -> None:
    raw = parse_cpuid_r((dumps / "amd-zen4-ryzen-7-7700x.txt").read_text())
    masked = [masked_leaves(v) for v in raw.values()]
    assert all(x == masked[0] for x in masked)
    assert raw[0][(1, 0)][1] != raw[1][(1, 0)][1] or raw[0] != raw[1]  # the raw data does differ


def test_heterogeneous_capture_pin_set(dumps: Path) -> None:
    # Synthetic machine (not real hardware): CPU sections of the ADL E-cores-off AVX-512 dump
    # followed by the ADL hybrid dump without AVX-512.
    text = concat_dumps(
        (dumps / "intel-alderlake-i9-12900k-pcores-avx512.txt").read_text(),
        (dumps / "intel-alderlake-i9-12900k.txt").read_text(),
    )
    m = parse_capture(text, source="concat")
    assert len(m.cpus) == 40
    chk = check_features(m, ["avx512f"])
    assert chk.result is False
    assert {c for c, v in chk.per_cpu.items() if v} == set(range(16))
    assert pin_set(m, ["avx512f", "avx512vl"]) == set(range(16))
    assert pin_set(m, ["avx2"]) == set(range(40))
    assert check_features(m, ["avx512f"], scope="any").result is True


def test_json_roundtrip_keeps_answers(dumps: Path, tmp_path: Path) -> None:
    m = load_capture(str(dumps / "intel-sapphirerapids-xeon-w7-2475x.txt"))
    text = dump_capture(m)
    doc = json.loads(text)
    assert doc["format"] == "config-reloader/cpu-capture" and doc["version"] == 1
    path = tmp_path / "cap.json"
    path.write_text(text)
    back = load_capture(str(path))
    assert back.backend.startswith("capture:json")
    for c in m.cpus:
        a, b = m.cpus[c], back.cpus[c]
        assert a is not None and b is not None
        assert (a.cpu_view, a.usable, a.levels) == (b.cpu_view, b.usable, b.levels)


def test_json_unknown_cpu_and_kernel_flags_roundtrip() -> None:
    from cpu_fakes import leaves_with

    from config_reloader.cpu.probe import build_cpu

    f = build_cpu(
        0,
        leaves_with(["fpu", "sse2", "osxsave", "avx"]),
        xcr0=0x7,
        xcr0_source="xgetbv",
        kernel_tokens=["fpu", "sse2", "rep_good"],
    )
    m = MachineFeatures("x86-64", "fake", {0: f, 1: None}, affinity=frozenset({0, 1}), current_cpu=0)
    back = parse_capture(dump_capture(m))
    assert back.cpus[1] is None and back.affinity == frozenset({0, 1}) and back.current_cpu == 0
    b0 = back.cpus[0]
    assert b0 is not None and b0.kernel == frozenset({"fpu", "sse2", "rep_good"}) and b0.xcr0 == 0x7
    assert b0.usable == f.usable and "avx" in b0.usable
    chk = check_features(back, ["avx"])
    assert chk.result is None and chk.unknown_cpus == (1,)  # CPU 1 unknown, never false
    assert check_features(back, ["avx"], view="kernel").per_cpu == {0: False, 1: None}
    assert check_features(back, ["avx512f"]).result is False  # a known CPU lacks it


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello\n",
        '{"format": "other"}',
        '{"format": "config-reloader/cpu-capture", "version": 99}',
        "CPU 0:\n   0x00000000 0x00: eax=0xZZ ebx=0x0 ecx=0x0 edx=0x0\n",
        "{not json",
    ],
)
def test_malformed_captures_are_clear_errors(text: str) -> None:
    with pytest.raises(CpuidError):
        parse_capture(text, source="t")


def test_load_capture_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CpuidError, match="cannot read"):
        load_capture(str(tmp_path / "nope.txt"))


def _load_in_thread(path: str) -> BaseException | None:
    """load_capture(path): the error it raised, or fails the test if it blocks."""
    return outcome_without_blocking(lambda: load_capture(path), f"load_capture({path})")


def test_load_capture_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    exc = _load_in_thread(str(fifo))
    assert isinstance(exc, CpuidError)
    assert "a FIFO, not a regular file" in str(exc)


def test_load_capture_refuses_a_device() -> None:
    exc = _load_in_thread("/dev/zero")
    assert isinstance(exc, CpuidError)
    assert "a character device, not a regular file" in str(exc)


def test_load_capture_bounds_a_huge_file(tmp_path: Path) -> None:
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as f:
        f.truncate(CAPTURE_LIMIT + 1)  # sparse: costs no disk
    exc = _load_in_thread(str(huge))
    assert isinstance(exc, CpuidError)
    assert f"more than {CAPTURE_LIMIT} bytes" in str(exc)
