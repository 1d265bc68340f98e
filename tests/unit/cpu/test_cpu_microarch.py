"""Microarchitecture targets (archspec's table) over the 15 real dumps and built machines."""

from __future__ import annotations

from pathlib import Path

import pytest
from cpu_fakes import concat_dumps

from config_reloader.cpu import check_features, load_capture, parse_capture, pin_set, resolve_feature
from config_reloader.cpu import microarch as ma
from config_reloader.cpu.probe import build_cpu
from config_reloader.errors import UnknownFeatureError

# Best archspec target and best generic target of each dump (usable view). The generic column is
# the psABI level of the dumps' truth table (v1 has no archspec target of its own: x86_64).
BEST = {
    "amd-zen2-ryzen-9-3950x.txt": ("zen2", "x86_64_v3"),
    "amd-zen3-ryzen-9-5900x.txt": ("zen3", "x86_64_v3"),
    "amd-zen4-ryzen-7-7700x.txt": ("zen4", "x86_64_v4"),
    "amd-zen5-ryzen-7-9700x.txt": ("zen5", "x86_64_v4"),
    "intel-sapphirerapids-xeon-w7-2475x.txt": ("sapphirerapids", "x86_64_v4"),
    "intel-alderlake-i9-12900k.txt": ("alderlake", "x86_64_v3"),
    "intel-meteorlake-core-ultra-7-155h.txt": ("alderlake", "x86_64_v3"),
    "intel-sandybridge-e-i7-3930k.txt": ("sandybridge", "x86_64_v2"),
    # AES fused off: not westmere (archspec's own detection says the same)
    "intel-ivybridge-celeron-g1610.txt": ("nehalem", "x86_64_v2"),
    "intel-westmere-ep-xeon-x5667.txt": ("westmere", "x86_64_v2"),
    "intel-penryn-core2-extreme-x9650.txt": ("core2", "x86_64"),
    "qemu-kvm64.txt": ("nocona", "x86_64"),
}


def test_every_x86_and_arm64_target_is_checkable() -> None:
    """Every feature archspec names for x86-64/arm64 maps to one of our names (sha512, sm3, sm4 on
    x86 and ls64 on arm64 were missing)."""
    targets = [t for t in ma.table().values() if t.arch in ("x86-64", "arm64")]
    names = {t.name for t in targets}
    assert {"skylake_avx512", "zen4", "sapphirerapids", "neoverse_v1", "neoverse_n1", "a64fx"} <= names
    assert [(t.name, t.unchecked) for t in targets if t.unchecked] == []


@pytest.mark.parametrize(
    ("given", "target"),
    [
        ("skylake_avx512", "skylake_avx512"),
        ("skylake-avx512", "skylake_avx512"),
        ("SKYLAKE-AVX512", "skylake_avx512"),
        ("znver4", "zen4"),
        ("zen4", "zen4"),
        ("neoverse-v1", "neoverse_v1"),
        ("neoverse_v1", "neoverse_v1"),
        ("icelake-client", "icelake"),
        ("core-avx2", "haswell"),
    ],
)
def test_target_spellings(given: str, target: str) -> None:
    assert resolve_feature(given) == target
    assert resolve_feature(f"x86-64.{given}") == f"x86-64.{target}"


def test_feature_and_level_names_win_over_targets() -> None:
    assert resolve_feature("x86-64-v3") == "x86-64-v3"
    assert resolve_feature("sha512") == "sha512"


def test_unknown_target_gets_closest_names() -> None:
    with pytest.raises(UnknownFeatureError) as exc:
        resolve_feature("skylake512")
    assert "skylake_avx512" in exc.value.suggestions
    assert "did you mean" in str(exc.value)
    with pytest.raises(UnknownFeatureError) as exc:
        resolve_feature("znver9")
    assert any(s.startswith("zen") for s in exc.value.suggestions)


def test_target_requires_its_ancestors_and_the_psabi_level() -> None:
    t = ma.table()["skylake_avx512"]
    assert t.level == "x86-64-v4"
    assert {"avx512f", "avx512vl", "clwb", "osxsave", "cmov"} <= t.features
    assert "haswell" in t.ancestors and t.arch == "x86-64" and "skylake-avx512" in t.aliases


@pytest.mark.parametrize("name", sorted(BEST))
def test_best_target_of_each_dump(dumps: Path, name: str) -> None:
    machine = load_capture(str(dumps / name))
    rows = ma.per_cpu(machine)
    best, generic = BEST[name]
    assert {(r.best, r.generic) for r in rows.values() if r is not None} == {(best, generic)}
    assert pin_set(machine, [best]) == frozenset(machine.cpus)


@pytest.mark.parametrize(
    ("target", "holds_on"),
    [
        ("znver4", {"amd-zen4-ryzen-7-7700x.txt", "amd-zen5-ryzen-7-9700x.txt"}),
        (
            "skylake-avx512",
            {
                "amd-zen4-ryzen-7-7700x.txt",
                "amd-zen5-ryzen-7-9700x.txt",
                "intel-sapphirerapids-xeon-w7-2475x.txt",
                "intel-alderlake-i9-12900k-pcores-avx512.txt",
            },  # not Rocket Lake: AVX-512 but no CLWB, which -march=skylake-avx512 may emit
        ),
        ("neoverse-v1", set()),
    ],
)
def test_target_holds_exactly_on(dumps: Path, target: str, holds_on: set[str]) -> None:
    got = {
        p.name
        for p in sorted(dumps.glob("*.txt"))
        if check_features(load_capture(str(p)), [target]).result is True
    }
    assert got == holds_on


def test_pin_set_of_a_mixed_machine(dumps: Path) -> None:
    """Not real hardware: the CPU sections of a Sandy Bridge-E and a Zen 4 dump in one machine."""
    text = concat_dumps(
        (dumps / "intel-sandybridge-e-i7-3930k.txt").read_text(),
        (dumps / "amd-zen4-ryzen-7-7700x.txt").read_text(),
    )
    machine = parse_capture(text)
    assert pin_set(machine, ["znver4"]) == frozenset(range(12, 28))
    # a target holds wherever its features do, whatever the vendor (a binary built for it runs)
    assert pin_set(machine, ["sandybridge"]) == frozenset(range(28))
    assert pin_set(machine, ["x86-64-v3"]) == frozenset(range(12, 28))
    rows = ma.per_cpu(machine)  # the best target is the vendor's own
    assert rows[0] is not None and rows[0].best == "sandybridge"
    assert rows[12] is not None and rows[12].best == "zen4"


def test_usable_view_needs_the_os_enabled_state(dumps: Path) -> None:
    """CPUID says Haswell, but with XCR0 = x87|SSE (AVX state not enabled) only the cpu view does."""
    m = load_capture(str(dumps / "amd-zen3-ryzen-9-5900x.txt"))
    f0 = m.cpus[0]
    assert f0 is not None
    off = build_cpu(0, f0.leaves, xcr0=0x3, xcr0_source="test", kernel_tokens=None)
    m2 = m.replace(cpus={0: off})
    assert check_features(m2, ["haswell"], view="cpu").result is True
    assert check_features(m2, ["haswell"], view="usable").result is False
    assert check_features(m2, ["westmere"], view="usable").result is True
    rows = ma.per_cpu(m2)
    assert rows[0] is not None and rows[0].generic == "x86_64_v2"


def test_arm64_target_on_hwcaps() -> None:
    """An arm64 machine (injected HWCAP names): neoverse_n1 holds, neoverse_v1 (SVE) does not, and
    an x86 target is false there (another architecture)."""
    n1 = ma.table()["neoverse_n1"]
    from config_reloader.cpu.model import CpuFeatures, MachineFeatures

    names = frozenset(n1.features)
    machine = MachineFeatures("arm64", "hwcaps", {0: CpuFeatures(0, names, names, names, frozenset())})
    assert check_features(machine, ["neoverse-n1"]).result is True
    assert check_features(machine, ["neoverse-v1"]).result is False
    assert check_features(machine, ["skylake-avx512"]).result is False
    best, generic = ma.best_targets(names, "arm64", "ARM")
    assert best is not None and best.name == "neoverse_n1"
    assert "evtstrm" not in n1.features  # the kernel's timer event stream, not an ISA feature
    assert generic is not None and generic.name == "aarch64"  # armv8.Xa list no features
