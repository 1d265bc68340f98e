"""Invariants of the feature tables (not single rows)."""

from __future__ import annotations

import itertools

import pytest

from config_reloader.cpu import features as ft
from config_reloader.cpu import hwcaps
from config_reloader.cpu.model import resolve_feature
from config_reloader.errors import UnknownFeatureError


def test_canonical_names_unique() -> None:
    names = [f.name for f in ft.X86_FEATURES]
    assert len(names) == len(set(names))


def test_kernel_tokens_unique() -> None:
    tokens = [f.kernel for f in ft.X86_FEATURES if f.kernel]
    assert len(tokens) == len(set(tokens))


def test_cpuid_locations_unique() -> None:
    locs = [(f.leaf, f.subleaf, f.register, f.bit) for f in ft.X86_FEATURES if f.leaf is not None]
    assert len(locs) == len(set(locs))
    assert all(0 <= f.bit <= 31 for f in ft.X86_FEATURES)


def test_aliases_resolve_and_do_not_shadow_names() -> None:
    canon = {f.name for f in ft.X86_FEATURES}
    for f in ft.X86_FEATURES:
        for a in f.aliases:
            assert a not in canon, a
            assert resolve_feature(a) == f.name
            assert resolve_feature(a.upper()) == f.name


def test_systemd_table_exactly_51_names_all_present() -> None:
    assert len(ft.SYSTEMD_X86_NAMES) == 51 == len(set(ft.SYSTEMD_X86_NAMES))
    in_table = {f.systemd_name for f in ft.X86_FEATURES if f.systemd_name}
    assert in_table == set(ft.SYSTEMD_X86_NAMES)
    for n in ft.SYSTEMD_X86_NAMES:
        resolve_feature(n)  # every systemd spelling is accepted


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("pclmulqdq", "pclmulqdq"),
        ("pclmul", "pclmulqdq"),
        ("fma", "fma"),
        ("FMA3", "fma"),
        ("sse3", "pni"),
        ("lzcnt", "abm"),
        ("rdrnd", "rdrand"),
        ("sha", "sha_ni"),
        ("avx512vnni", "avx512_vnni"),
        ("osxsave", "osxsave"),
        ("Sha_Ni", "sha_ni"),
        ("x86-64.avx2", "x86-64.avx2"),
        ("X86-64.PCLMUL", "x86-64.pclmulqdq"),
        ("arm64.SVE", "arm64.sve"),
        ("x86-64-v3", "x86-64-v3"),
    ],
)
def test_resolve(given: str, canonical: str) -> None:
    assert resolve_feature(given) == canonical


def test_systemd_spellings_differ_from_kernel_where_documented() -> None:
    by_sd = {f.systemd_name: f for f in ft.X86_FEATURES if f.systemd_name}
    assert by_sd["pclmul"].kernel == "pclmulqdq"
    assert by_sd["fma3"].kernel == "fma"
    assert by_sd["osxsave"].kernel is None  # the kernel hides it
    differing = {n for n, f in by_sd.items() if f.kernel != n}
    assert differing == {"pclmul", "fma3", "osxsave"}


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(UnknownFeatureError) as ei:
        resolve_feature("avx512")
    assert ei.value.name == "avx512"
    assert ei.value.suggestions and all(s.startswith("avx512") for s in ei.value.suggestions)
    assert "did you mean" in str(ei.value)
    with pytest.raises(UnknownFeatureError):
        resolve_feature("bogus.asimd")


def test_xcr0_masks() -> None:
    assert (ft.XCR0_AVX, ft.XCR0_AVX512, ft.XCR0_AMX) == (0x6, 0xE6, 0x60000)
    for f in ft.X86_FEATURES:
        if f.name.startswith("avx512"):
            assert f.xcr0 == ft.XCR0_AVX512, f.name
        elif f.name.startswith("amx"):
            assert f.xcr0 == ft.XCR0_AMX, f.name
        elif f.name.startswith("avx") or f.name in ("fma", "f16c", "vaes", "vpclmulqdq"):
            assert f.xcr0 == ft.XCR0_AVX, f.name
        elif f.name in ("sse", "sse2", "aes", "sha_ni", "gfni", "osxsave", "xsave"):
            assert f.xcr0 is None


def test_levels_nested_and_in_table() -> None:
    order = ["x86-64-v1", "x86-64-v2", "x86-64-v3", "x86-64-v4"]
    assert list(ft.LEVELS) == order
    for lo, hi in itertools.pairwise(order):
        assert ft.LEVELS[lo] < ft.LEVELS[hi]
    for req in ft.LEVELS.values():
        for n in req:
            ft.by_name(n)
    assert ft.levels_of(set(ft.LEVELS["x86-64-v3"])) == frozenset(order[:3])


def test_kernel_only_flags_have_no_cpuid_location() -> None:
    for n in ("rep_good", "nopl", "nonstop_tsc"):
        assert ft.by_name(n).leaf is None


def test_arm64_names_unique_and_bits_distinct() -> None:
    assert len(hwcaps.ARM64_BITS) == len(set(hwcaps.ARM64_BITS.values()))
    assert {"fp", "asimd", "sve", "sve2", "bti", "mte", "sme", "mtefar"} <= hwcaps.ARM64_NAMES
