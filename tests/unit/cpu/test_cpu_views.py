"""Views, XCR0 rules, CPUID hygiene, per-CPU answers and pin sets, with fake providers."""

from __future__ import annotations

import os

import pytest
from cpu_fakes import FakeProvider, leaves_with
from hypothesis import given
from hypothesis import strategies as st

from config_reloader.cpu import check_features, pin_set
from config_reloader.cpu import features as ft
from config_reloader.cpu.cpuid import Regs, decode, read_leaves, run_pinned, xcr0_of
from config_reloader.cpu.model import CpuFeatures, MachineFeatures
from config_reloader.cpu.probe import build_cpu

BASE = [
    "fpu",
    "cx8",
    "cmov",
    "mmx",
    "fxsr",
    "sse",
    "sse2",
    "pni",
    "ssse3",
    "cx16",
    "sse4_1",
    "sse4_2",
    "popcnt",
    "lahf_lm",
]
V3 = [*BASE, "xsave", "osxsave", "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe"]
V4 = [*V3, "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]


def cpu_of(
    n: int, prov: FakeProvider, kernel: list[str] | None = None, source: str = "xgetbv"
) -> CpuFeatures:
    leaves = read_leaves(prov)
    return build_cpu(n, leaves, xcr0=xcr0_of(prov, leaves), xcr0_source=source, kernel_tokens=kernel)


def test_full_v4_machine() -> None:
    c = cpu_of(0, FakeProvider(leaves_with(V4), 0xE7))
    assert {"avx512f", "avx2"} <= c.usable
    assert c.levels == {"x86-64-v1", "x86-64-v2", "x86-64-v3", "x86-64-v4"}


def test_avx_without_xsave_state() -> None:
    # CPU enumerates AVX and the OS set OSXSAVE, but XCR0 has only x87|SSE (no YMM state).
    c = cpu_of(0, FakeProvider(leaves_with(V3), 0x3))
    assert "avx" in c.cpu_view and "avx" not in c.usable
    assert "avx2" not in c.usable and "fma" not in c.usable
    assert "sse4_2" in c.usable
    assert max(c.levels) == "x86-64-v2"


def test_avx512_without_osxsave_never_calls_xgetbv() -> None:
    names = [n for n in V4 if n != "osxsave"]
    prov = FakeProvider(leaves_with(names), 0xE7)  # xgetbv would fail the test (asserts OSXSAVE)
    c = cpu_of(0, prov)
    assert c.xcr0 == 0
    assert "avx512f" in c.cpu_view and "avx512f" not in c.usable and "avx" not in c.usable


def test_avx512_needs_all_three_zmm_components() -> None:
    c = cpu_of(0, FakeProvider(leaves_with(V4), 0x7 | 0x20 | 0x40))  # no Hi16_ZMM (bit 7)
    assert "avx2" in c.usable and "avx512f" not in c.usable


def test_kernel_disabled_avx_clearcpuid_style() -> None:
    # clearcpuid=avx / gather_data_sampling=force: CPUID still says AVX, XCR0 lacks YMM, kernel hides it.
    kernel = [n for n in V3 if n not in ("avx", "avx2", "fma", "f16c", "osxsave")]
    c = cpu_of(0, FakeProvider(leaves_with(V3), 0x3), kernel=kernel)
    m = MachineFeatures("x86-64", "fake", {0: c})
    assert check_features(m, ["avx"], view="cpu").result is True
    assert check_features(m, ["avx"], view="usable").result is False
    assert check_features(m, ["avx"], view="kernel").result is False


def test_amx_needs_xcr0_bits_17_18() -> None:
    names = [*V4, "amx_tile", "amx_int8", "amx_bf16"]
    without = cpu_of(0, FakeProvider(leaves_with(names), 0xE7))
    with_amx = cpu_of(0, FakeProvider(leaves_with(names), 0xE7 | 0x60000))
    assert "amx_tile" in without.cpu_view and "amx_tile" not in without.usable
    assert {"amx_tile", "amx_int8", "amx_bf16"} <= with_amx.usable


def test_leaf7_garbage_ecx_subleaf_always_passed() -> None:
    prov = FakeProvider(leaves_with(V3), 0x7, garbage_ecx=True)
    c = cpu_of(0, prov)
    assert {"avx2", "bmi1", "bmi2"} <= c.usable
    assert "avx512f" not in c.cpu_view  # garbage would set bit 16 of EBX
    assert all(sub in (0, 1) for leaf, sub in prov.calls if leaf == 7)


def test_max_leaf_respected() -> None:
    # max basic leaf 6: leaf 7 and 0xD must not be read (the fake asserts), features there absent.
    prov = FakeProvider(leaves_with(BASE, max_basic=6, max_ext=0x80000001), 0x3)
    c = cpu_of(0, prov)
    assert (7, 0) not in prov.calls and (0xD, 1) not in prov.calls
    assert "sse4_2" in c.usable and "avx2" not in c.cpu_view
    # stale data above the max leaf in a table is ignored by decode, too
    leaves = leaves_with([*BASE, "avx2"], max_basic=6)
    assert "avx2" not in decode(leaves, 0x7)[0]


def test_leaf_7_subleaf_1_only_when_enumerated() -> None:
    leaves = leaves_with([*V3, "avx_vnni"])
    leaves[(7, 0)] = (0, *leaves[(7, 0)][1:])  # max subleaf 0
    assert "avx_vnni" not in decode(leaves, 0x7)[0]


def _hybrid_pair() -> tuple[dict[tuple[int, int], Regs], dict[tuple[int, int], Regs]]:
    p_core = leaves_with(V3, max_basic=0x1A, extra={(0x1A, 0): (0x40000001, 0, 0, 0)})
    e_core = leaves_with(V3, max_basic=0x1A, extra={(0x1A, 0): (0x20000001, 0, 0, 0)})
    return p_core, e_core


def test_hybrid_core_types_differ_isa_same() -> None:
    p, e = _hybrid_pair()
    cpus = {i: cpu_of(i, FakeProvider(p if i < 2 else e, 0x7)) for i in range(4)}
    assert [cpus[i].core_type for i in range(4)] == ["core", "core", "atom", "atom"]
    m = MachineFeatures("x86-64", "fake", cpus)
    chk = check_features(m, ["avx2", "fma3"])
    assert chk.result is True and set(chk.per_cpu.values()) == {True}
    assert pin_set(m, ["avx2"]) == {0, 1, 2, 3}


def test_heterogeneous_features_pin_set() -> None:
    cpus = {i: cpu_of(i, FakeProvider(leaves_with(V4 if i < 2 else V3), 0xE7)) for i in range(4)}
    m = MachineFeatures("x86-64", "fake", cpus)
    chk = check_features(m, ["avx512f", "avx2"])
    assert chk.result is False
    assert chk.per_cpu == {0: True, 1: True, 2: False, 3: False}
    assert chk.missing == {2: ("avx512f",), 3: ("avx512f",)}
    assert check_features(m, ["avx512f"], scope="any").result is True
    assert pin_set(m, ["avx512f"]) == {0, 1}
    assert pin_set(m, ["x86-64-v4"]) == {0, 1}
    assert pin_set(m, ["x86-64-v3"]) == {0, 1, 2, 3}


def test_offline_and_outside_cpuset_are_unknown_never_false() -> None:
    full = cpu_of(0, FakeProvider(leaves_with(V3), 0x7))
    cpus = {0: full, 1: None, 2: None}
    # CPU 1 is in our affinity but unreadable; CPU 2 is offline / outside the cpuset.
    m = MachineFeatures("x86-64", "fake", cpus, affinity=frozenset({0, 1}), current_cpu=0)
    chk = check_features(m, ["avx2"])
    assert chk.result is None and chk.unknown_cpus == (1,)
    assert chk.per_cpu == {0: True, 1: None, 2: None}
    assert check_features(m, ["avx512f"]).result is False  # a known CPU lacks it: false is certain
    assert check_features(m, ["avx2"], scope="current").result is True
    assert check_features(m, ["avx2"], scope="any").result is True
    assert pin_set(m, ["avx2"]) == {0}
    m2 = MachineFeatures("x86-64", "fake", cpus, affinity=frozenset({0}), current_cpu=0)
    assert check_features(m2, ["avx2"]).result is True


def test_arch_prefix_mismatch_is_false() -> None:
    m = MachineFeatures("x86-64", "fake", {0: cpu_of(0, FakeProvider(leaves_with(V3), 0x7))})
    assert check_features(m, ["x86-64.avx2"]).result is True
    assert check_features(m, ["arm64.sve"]).result is False
    assert check_features(m, ["arm64.sve"]).missing == {0: ("arm64.sve",)}


def test_kernel_view_unknown_is_none() -> None:
    m = MachineFeatures("x86-64", "fake", {0: cpu_of(0, FakeProvider(leaves_with(V3), 0x7))})
    assert check_features(m, ["avx2"], view="kernel").result is None


def test_bad_view_and_scope() -> None:
    m = MachineFeatures("x86-64", "fake", {})
    with pytest.raises(ValueError):
        check_features(m, ["avx2"], view="raw")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        check_features(m, ["avx2"], scope="some")  # type: ignore[arg-type]


def test_run_pinned_unpinnable_cpu_is_none_and_caller_affinity_kept() -> None:
    before = os.sched_getaffinity(0)
    bogus = max(before) + 4096
    got = run_pinned([min(before), bogus], lambda c: (c, os.sched_getaffinity(0)))
    assert got[bogus] is None
    assert got[min(before)] == (min(before), {min(before)})
    assert os.sched_getaffinity(0) == before


_XSAVE_NAMES = sorted(f.name for f in ft.X86_FEATURES if f.leaf is not None)


@given(
    names=st.sets(st.sampled_from(_XSAVE_NAMES), max_size=40),
    xcr0=st.integers(min_value=0, max_value=(1 << 19) - 1),
)
def test_usable_is_cpu_view_minus_os_disabled_state(names: set[str], xcr0: int) -> None:
    leaves = leaves_with(names)
    cpu, usable = decode(leaves, xcr0)
    assert cpu == names  # every table bit round-trips through the registers
    assert usable <= cpu
    osx = "osxsave" in names
    for n in cpu - usable:
        m = ft.by_name(n).xcr0
        assert m is not None and (not osx or xcr0 & m != m)
    assert ft.levels_of(set(usable)) <= ft.levels_of(set(cpu))


def test_cpus_differing_only_in_apic_ids_share_one_decoding() -> None:
    """decode() is a function of the feature registers and XCR0: the per-CPU identity fields
    (leaf 1 EBX[31:24], leaf 0xB EDX) do not make a new decoding, XCR0 does."""
    cpu0 = leaves_with(V4, extra={(1, 0): (0, 0x00000800, 0, 0), (0xB, 0): (1, 2, 0x100, 0)})
    regs1 = leaves_with(V4)[(1, 0)]
    cpu7 = {**cpu0, (1, 0): (regs1[0], 0x07000800 | regs1[1], regs1[2], regs1[3]), (0xB, 0): (1, 2, 0x100, 7)}
    cpu0[(1, 0)] = (regs1[0], 0x00000800 | regs1[1], regs1[2], regs1[3])
    first = decode(cpu0, 0xE7)
    assert decode(cpu7, 0xE7) is first  # the same result object: decoded once
    assert first[1] == set(V4)
    without_zmm = decode(cpu7, 0x7)
    assert without_zmm[0] == first[0] and "avx512f" not in without_zmm[1] and "avx2" in without_zmm[1]
    # a leaf above the maximum basic leaf is never read, whatever the table holds for it
    capped = decode({**cpu0, (0, 0): (6, 0, 0, 0)}, 0xE7)
    assert "avx2" not in capped[0] and "sse2" in capped[0]
