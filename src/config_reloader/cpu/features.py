"""CPU feature tables as data: CPUID locations, XCR0 masks, kernel tokens, aliases, psABI levels.

One tuple of frozen records, :data:`X86_FEATURES`; every lookup is a derived index built once at
import. Canonical names are the Linux kernel's ``/proc/cpuinfo`` tokens; systemd's three different
spellings (``pclmul``, ``fma3``, ``osxsave``) are kept as ``systemd_name`` and as aliases.

Sources:
    Intel SDM vol. 2A, CPUID instruction, tables 3-8 .. 3-10 (leaf 1, 7.0, 7.1, 0xD.1, 6);
    AMD APM vol. 3, appendix E (0x80000001, 0x80000007, 0x80000008);
    Linux ``arch/x86/include/asm/cpufeatures.h`` (token spellings, ``""`` = hidden);
    systemd ``src/basic/virt.c`` (the 51-name x86 table, unchanged v248..v261);
    Intel SDM vol. 1 §13.3/§15.2 and glibc ``cpu-features.c`` (XCR0 requirements);
    x86-64 psABI §3.1.1 "Microarchitecture levels" and glibc ``sysdeps/x86/get-isa-level.h``.
"""

from __future__ import annotations

from config_reloader.errors import UnknownFeatureError
from config_reloader.record import Record

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Literal

    Register = Literal["eax", "ebx", "ecx", "edx"]
else:

    def __getattr__(name: str) -> object:
        """``Register`` at run time: built on first use (importing ``typing`` costs start-up)."""
        if name != "Register":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from typing import Literal

        globals()["Register"] = value = Literal["eax", "ebx", "ecx", "edx"]
        return value


__all__ = [
    "ARCH_ALIASES",
    "LEVELS",
    "SYSTEMD_X86_NAMES",
    "X86_FEATURES",
    "XCR0_AMX",
    "XCR0_AVX",
    "XCR0_AVX512",
    "Feature",
    "Register",
    "by_name",
    "canonical_name",
    "kernel_token_to_name",
    "kernel_tokens_to_names",
    "levels_of",
    "split_arch_prefix",
]

# XCR0 (XFEATURE_ENABLED_MASK) masks an OS must have set for a feature's register state to be usable.
# Source: Intel SDM vol. 1 §14.3 (AVX: XCR0[2:1]=11b), §15.2 (AVX-512: XCR0[7:5]=111b and [2:1]=11b),
# §18.2 (AMX: XCR0[18:17], TILECFG/TILEDATA).
XCR0_AVX = 0x6
XCR0_AVX512 = 0xE6
XCR0_AMX = 0x60000


class Feature(Record):
    """One x86 CPU feature bit.

    Attributes:
        name: canonical name (the kernel's /proc/cpuinfo token where there is one).
        leaf: CPUID leaf (EAX input), or ``None`` for kernel-only (synthetic) flags.
        subleaf: CPUID subleaf (ECX input); always passed explicitly, 0 for leaves without subleaves.
        register: output register holding the bit.
        bit: bit number 0..31.
        xcr0: XCR0 mask the OS must enable for the feature to be usable, or ``None``.
        kernel: /proc/cpuinfo token, or ``None`` when the kernel hides it (``""`` in cpufeatures.h).
        aliases: other accepted spellings (lower case).
        systemd_name: the name in systemd's 51-name table, or ``None`` if systemd does not know it.
    """

    _fields = ("name", "leaf", "subleaf", "register", "bit", "xcr0", "kernel", "aliases", "systemd_name")
    __slots__ = ("aliases", "bit", "kernel", "leaf", "name", "register", "subleaf", "systemd_name", "xcr0")
    name: str
    leaf: int | None
    subleaf: int
    register: Register
    bit: int
    xcr0: int | None
    kernel: str | None
    aliases: tuple[str, ...]
    systemd_name: str | None

    def __init__(
        self,
        name: str,
        leaf: int | None,
        subleaf: int,
        register: Register,
        bit: int,
        xcr0: int | None = None,
        kernel: str | None = None,
        aliases: tuple[str, ...] = (),
        systemd_name: str | None = None,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "name", name)
        setattr_(self, "leaf", leaf)
        setattr_(self, "subleaf", subleaf)
        setattr_(self, "register", register)
        setattr_(self, "bit", bit)
        setattr_(self, "xcr0", xcr0)
        setattr_(self, "kernel", kernel)
        setattr_(self, "aliases", aliases)
        setattr_(self, "systemd_name", systemd_name)


def _t(
    names: str,
    leaf: int | None,
    subleaf: int,
    reg: Register,
    bits: Iterable[int],
    *,
    xcr0: int | None = None,
    systemd: bool = False,
) -> list[Feature]:
    """Rows whose name equals the kernel token (the common case)."""
    out = []
    for n, b in zip(names.split(), bits, strict=True):
        out.append(Feature(n, leaf, subleaf, reg, b, xcr0, n, (), n if systemd else None))
    return out


_L1, _L7, _LD, _E1, _E7, _E8, _L6 = 0x1, 0x7, 0xD, 0x80000001, 0x80000007, 0x80000008, 0x6

_ROWS: list[Feature] = [
    # --- leaf 1 EDX (kernel word 0); systemd knows bits 0-9, 11-17, 19, 23-26, 28
    *_t("fpu vme de pse tsc msr pae mce cx8 apic", _L1, 0, "edx", range(10), systemd=True),
    *_t("sep mtrr pge mca cmov pat pse36", _L1, 0, "edx", range(11, 18), systemd=True),
    *_t("pn", _L1, 0, "edx", [18]),
    *_t("clflush", _L1, 0, "edx", [19], systemd=True),
    *_t("dts acpi", _L1, 0, "edx", [21, 22]),
    *_t("mmx fxsr sse sse2", _L1, 0, "edx", [23, 24, 25, 26], systemd=True),
    *_t("ss", _L1, 0, "edx", [27]),
    *_t("ht", _L1, 0, "edx", [28], systemd=True),
    *_t("tm ia64 pbe", _L1, 0, "edx", [29, 30, 31]),
    # --- leaf 1 ECX (kernel word 4)
    Feature("pni", _L1, 0, "ecx", 0, None, "pni", ("sse3",), "pni"),
    Feature("pclmulqdq", _L1, 0, "ecx", 1, None, "pclmulqdq", ("pclmul",), "pclmul"),
    *_t("dtes64", _L1, 0, "ecx", [2]),
    Feature("monitor", _L1, 0, "ecx", 3, None, "monitor", ("mwait",), "monitor"),
    *_t("ds_cpl vmx smx est tm2", _L1, 0, "ecx", [4, 5, 6, 7, 8]),
    *_t("ssse3", _L1, 0, "ecx", [9], systemd=True),
    *_t("cid sdbg", _L1, 0, "ecx", [10, 11]),
    Feature("fma", _L1, 0, "ecx", 12, XCR0_AVX, "fma", ("fma3",), "fma3"),
    *_t("cx16", _L1, 0, "ecx", [13], systemd=True),
    *_t("xtpr pdcm pcid dca", _L1, 0, "ecx", [14, 15, 17, 18]),
    *_t("sse4_1 sse4_2", _L1, 0, "ecx", [19, 20], systemd=True),
    *_t("x2apic", _L1, 0, "ecx", [21]),
    *_t("movbe popcnt", _L1, 0, "ecx", [22, 23], systemd=True),
    *_t("tsc_deadline_timer", _L1, 0, "ecx", [24]),
    *_t("aes xsave", _L1, 0, "ecx", [25, 26], systemd=True),
    Feature("osxsave", _L1, 0, "ecx", 27, None, None, (), "osxsave"),
    Feature("avx", _L1, 0, "ecx", 28, XCR0_AVX, "avx", (), "avx"),
    Feature("f16c", _L1, 0, "ecx", 29, XCR0_AVX, "f16c", (), "f16c"),
    Feature("rdrand", _L1, 0, "ecx", 30, None, "rdrand", ("rdrnd",), "rdrand"),
    *_t("hypervisor", _L1, 0, "ecx", [31]),
    # --- leaf 6 EAX (kernel word 14)
    *_t(
        "dtherm ida arat pln pts hwp hwp_notify hwp_act_window hwp_epp hwp_pkg_req",
        _L6,
        0,
        "eax",
        [0, 1, 2, 4, 6, 7, 8, 9, 10, 11],
    ),
    # --- leaf 7.0 EBX (kernel word 9)
    *_t("fsgsbase tsc_adjust sgx", _L7, 0, "ebx", [0, 1, 2]),
    *_t("bmi1", _L7, 0, "ebx", [3], systemd=True),
    *_t("hle", _L7, 0, "ebx", [4]),
    Feature("avx2", _L7, 0, "ebx", 5, XCR0_AVX, "avx2", (), "avx2"),
    *_t("smep", _L7, 0, "ebx", [7]),
    *_t("bmi2", _L7, 0, "ebx", [8], systemd=True),
    *_t("erms invpcid rtm cqm mpx rdt_a", _L7, 0, "ebx", [9, 10, 11, 12, 14, 15]),
    *_t("avx512f avx512dq", _L7, 0, "ebx", [16, 17], xcr0=XCR0_AVX512),
    *_t("rdseed adx", _L7, 0, "ebx", [18, 19], systemd=True),
    *_t("smap", _L7, 0, "ebx", [20]),
    *_t("avx512ifma", _L7, 0, "ebx", [21], xcr0=XCR0_AVX512),
    *_t("clflushopt clwb intel_pt", _L7, 0, "ebx", [23, 24, 25]),
    *_t("avx512pf avx512er avx512cd", _L7, 0, "ebx", [26, 27, 28], xcr0=XCR0_AVX512),
    Feature("sha_ni", _L7, 0, "ebx", 29, None, "sha_ni", ("sha",), "sha_ni"),
    *_t("avx512bw avx512vl", _L7, 0, "ebx", [30, 31], xcr0=XCR0_AVX512),
    # --- leaf 7.0 ECX (kernel word 16)
    Feature("avx512vbmi", _L7, 0, "ecx", 1, XCR0_AVX512, "avx512vbmi", ("avx512_vbmi",)),
    *_t("umip pku ospke waitpkg", _L7, 0, "ecx", [2, 3, 4, 5]),
    Feature("avx512_vbmi2", _L7, 0, "ecx", 6, XCR0_AVX512, "avx512_vbmi2", ("avx512vbmi2",)),
    *_t("gfni", _L7, 0, "ecx", [8]),
    *_t("vaes vpclmulqdq", _L7, 0, "ecx", [9, 10], xcr0=XCR0_AVX),
    Feature("avx512_vnni", _L7, 0, "ecx", 11, XCR0_AVX512, "avx512_vnni", ("avx512vnni",)),
    Feature("avx512_bitalg", _L7, 0, "ecx", 12, XCR0_AVX512, "avx512_bitalg", ("avx512bitalg",)),
    *_t("tme", _L7, 0, "ecx", [13]),
    Feature("avx512_vpopcntdq", _L7, 0, "ecx", 14, XCR0_AVX512, "avx512_vpopcntdq", ("avx512vpopcntdq",)),
    *_t(
        "la57 rdpid bus_lock_detect cldemote movdiri movdir64b enqcmd sgx_lc",
        _L7,
        0,
        "ecx",
        [16, 22, 24, 25, 27, 28, 29, 30],
    ),
    # --- leaf 7.0 EDX (kernel word 18)
    Feature("avx512_4vnniw", _L7, 0, "edx", 2, XCR0_AVX512, "avx512_4vnniw", ("avx5124vnniw",)),
    Feature("avx512_4fmaps", _L7, 0, "edx", 3, XCR0_AVX512, "avx512_4fmaps", ("avx5124fmaps",)),
    *_t("fsrm", _L7, 0, "edx", [4]),
    Feature(
        "avx512_vp2intersect", _L7, 0, "edx", 8, XCR0_AVX512, "avx512_vp2intersect", ("avx512vp2intersect",)
    ),
    *_t(
        "md_clear serialize hybrid_cpu tsxldtrk pconfig arch_lbr ibt",
        _L7,
        0,
        "edx",
        [10, 14, 15, 16, 18, 19, 20],
    ),
    Feature("amx_bf16", _L7, 0, "edx", 22, XCR0_AMX, "amx_bf16", ("amx-bf16",)),
    Feature("avx512_fp16", _L7, 0, "edx", 23, XCR0_AVX512, "avx512_fp16", ("avx512fp16",)),
    Feature("amx_tile", _L7, 0, "edx", 24, XCR0_AMX, "amx_tile", ("amx-tile",)),
    Feature("amx_int8", _L7, 0, "edx", 25, XCR0_AMX, "amx_int8", ("amx-int8",)),
    *_t("flush_l1d arch_capabilities", _L7, 0, "edx", [28, 29]),
    # --- leaf 7.1 EAX (kernel word 12); SHA512/SM3/SM4 are VEX.256 instructions (AVX state)
    *_t("sha512 sm3 sm4", _L7, 1, "eax", [0, 1, 2], xcr0=XCR0_AVX),
    Feature("avx_vnni", _L7, 1, "eax", 4, XCR0_AVX, "avx_vnni", ("avxvnni", "avx-vnni")),
    Feature("avx512_bf16", _L7, 1, "eax", 5, XCR0_AVX512, "avx512_bf16", ("avx512bf16",)),
    *_t(
        "cmpccxadd arch_perfmon_ext fzrm fsrs fsrc fred lkgs wrmsrns",
        _L7,
        1,
        "eax",
        [7, 8, 10, 11, 12, 17, 18, 19],
    ),
    Feature("amx_fp16", _L7, 1, "eax", 21, XCR0_AMX, "amx_fp16", ("amx-fp16",)),
    Feature("avx_ifma", _L7, 1, "eax", 23, XCR0_AVX, "avx_ifma", ("avxifma", "avx-ifma")),
    *_t("lam", _L7, 1, "eax", [26]),
    # --- leaf 7.1 EDX (no kernel tokens for these; names as gcc spells them)
    Feature("avx_vnni_int8", _L7, 1, "edx", 4, XCR0_AVX, None, ("avxvnniint8",)),
    Feature("avx_ne_convert", _L7, 1, "edx", 5, XCR0_AVX, None, ("avxneconvert",)),
    Feature("amx_complex", _L7, 1, "edx", 8, XCR0_AMX, None, ("amx-complex",)),
    Feature("avx_vnni_int16", _L7, 1, "edx", 10, XCR0_AVX, None, ("avxvnniint16",)),
    # --- leaf 0xD.1 EAX (kernel word 10)
    *_t("xsaveopt xsavec xgetbv1 xsaves", _LD, 1, "eax", [0, 1, 2, 3]),
    # --- leaf 0x80000001 EDX (kernel word 1)
    *_t("syscall", _E1, 0, "edx", [11], systemd=True),
    *_t("mp nx mmxext fxsr_opt pdpe1gb", _E1, 0, "edx", [19, 20, 22, 25, 26]),
    *_t("rdtscp", _E1, 0, "edx", [27], systemd=True),
    *_t("lm", _E1, 0, "edx", [29], systemd=True),
    *_t("3dnowext 3dnow", _E1, 0, "edx", [30, 31]),
    # --- leaf 0x80000001 ECX (kernel word 6)
    Feature("lahf_lm", _E1, 0, "ecx", 0, None, "lahf_lm", ("lahf", "sahf"), "lahf_lm"),
    *_t("cmp_legacy svm extapic cr8_legacy", _E1, 0, "ecx", [1, 2, 3, 4]),
    Feature("abm", _E1, 0, "ecx", 5, None, "abm", ("lzcnt",), "abm"),
    *_t("sse4a misalignsse 3dnowprefetch osvw ibs", _E1, 0, "ecx", [6, 7, 8, 9, 10]),
    *_t("xop", _E1, 0, "ecx", [11], xcr0=XCR0_AVX),
    *_t("skinit wdt lwp", _E1, 0, "ecx", [12, 13, 15]),
    *_t("fma4", _E1, 0, "ecx", [16], xcr0=XCR0_AVX),
    *_t(
        "tce nodeid_msr tbm topoext perfctr_core perfctr_nb bpext ptsc perfctr_llc mwaitx",
        _E1,
        0,
        "ecx",
        [17, 19, 21, 22, 23, 24, 26, 27, 28, 29],
    ),
    # --- leaf 0x80000007 (EBX: kernel word 17; EDX[8] invariant TSC = systemd's constant_tsc)
    *_t("overflow_recov succor smca", _E7, 0, "ebx", [0, 1, 3]),
    Feature("constant_tsc", _E7, 0, "edx", 8, None, "constant_tsc", ("invariant_tsc",), "constant_tsc"),
    # --- leaf 0x80000008 EBX (kernel word 13)
    *_t("clzero irperf xsaveerptr rdpru wbnoinvd cppc", _E8, 0, "ebx", [0, 1, 2, 4, 9, 27]),
    # --- kernel-only (synthetic) flags: no CPUID location, only the kernel view can be true
    *(
        Feature(n, None, 0, "eax", 0, None, n)
        for n in [
            "rep_good",
            "nopl",
            "xtopology",
            "nonstop_tsc",
            "cpuid",
            "tsc_known_freq",
            "cpuid_fault",
            "extd_apicid",
            "tsc_reliable",
            "pti",
            "ssbd",
            "ibrs",
            "ibpb",
            "stibp",
            "ibrs_enhanced",
            "vmmcall",
            "user_shstk",
        ]
    ),
]

X86_FEATURES: tuple[Feature, ...] = tuple(_ROWS)
"""Every known x86 feature. Invariants (tested): names, aliases and kernel tokens are unique."""

SYSTEMD_X86_NAMES: tuple[str, ...] = (
    "fpu",
    "vme",
    "de",
    "pse",
    "tsc",
    "msr",
    "pae",
    "mce",
    "cx8",
    "apic",
    "sep",
    "mtrr",
    "pge",
    "mca",
    "cmov",
    "pat",
    "pse36",
    "clflush",
    "mmx",
    "fxsr",
    "sse",
    "sse2",
    "ht",
    "pni",
    "pclmul",
    "monitor",
    "ssse3",
    "fma3",
    "cx16",
    "sse4_1",
    "sse4_2",
    "movbe",
    "popcnt",
    "aes",
    "xsave",
    "osxsave",
    "avx",
    "f16c",
    "rdrand",
    "bmi1",
    "avx2",
    "bmi2",
    "rdseed",
    "adx",
    "sha_ni",
    "syscall",
    "rdtscp",
    "lm",
    "lahf_lm",
    "abm",
    "constant_tsc",
)
"""systemd's x86 ``ConditionCPUFeature=`` names, exactly (51). Source: systemd src/basic/virt.c."""

# psABI levels as name sets over canonical names; each level includes the lower ones.
# Baseline follows glibc get-isa-level.h: SCE (syscall) and OSFXSR are not checked (OSFXSR is CR4,
# and Intel reports SYSCALL only in 64-bit mode).
_V1 = frozenset(["cmov", "cx8", "fpu", "fxsr", "mmx", "sse", "sse2"])
_V2 = _V1 | frozenset(["cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2"])
_V3 = _V2 | frozenset(["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "osxsave"])
_V4 = _V3 | frozenset(["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"])
LEVELS: Mapping[str, frozenset[str]] = {
    "x86-64-v1": _V1,
    "x86-64-v2": _V2,
    "x86-64-v3": _V3,
    "x86-64-v4": _V4,
}
"""psABI x86-64 microarchitecture levels. Source: x86-64 psABI §3.1.1; glibc get-isa-level.h."""

# systemd's architecture names (ConditionArchitecture=) accepted as ``ARCH.`` prefixes.
ARCH_ALIASES: Mapping[str, str] = {"x86-64": "x86-64", "x86": "x86", "arm64": "arm64"}

_BY_NAME: dict[str, Feature] = {f.name: f for f in X86_FEATURES}
_ALIAS: dict[str, str] = {}  # other spelling -> canonical name; built on first use (_aliases())


def _aliases() -> dict[str, str]:
    """Every accepted spelling that is not a canonical name: aliases, kernel tokens, systemd
    names. Built when a name is not canonical: the canonical path of ``condition`` skips it."""
    if not _ALIAS:
        for f in X86_FEATURES:
            for a in (
                *f.aliases,
                *([f.kernel] if f.kernel else []),
                *([f.systemd_name] if f.systemd_name else []),
            ):
                if a != f.name:
                    _ALIAS[a] = f.name
    return _ALIAS


_KERNEL: dict[str, str] = {f.kernel: f.name for f in X86_FEATURES if f.kernel}


def by_name(name: str) -> Feature:
    """The record of a canonical x86 feature name (KeyError if not canonical)."""
    return _BY_NAME[name]


def kernel_token_to_name(token: str) -> str | None:
    """Canonical name for a /proc/cpuinfo token, or ``None`` if the token is not in the table."""
    return _KERNEL.get(token)


def kernel_tokens_to_names(tokens: Iterable[str]) -> frozenset[str]:
    """Canonical names of a CPU's /proc/cpuinfo tokens; tokens not in the table are kept as printed
    (one dict lookup per token: a CPU has ~100 of them, read on every probe)."""
    get = _KERNEL.get
    return frozenset(get(t, t) for t in tokens)


def levels_of(names: frozenset[str] | set[str], *, kernel_view: bool = False) -> frozenset[str]:
    """The psABI levels fully contained in ``names`` (canonical names of one view of one CPU).

    ``kernel_view=True``: the kernel never prints ``osxsave`` (hidden in cpufeatures.h) but drops
    ``xsave``/``avx`` when it did not enable XSAVE, so ``osxsave`` is not required there.
    """
    return frozenset(
        level for level, req in LEVELS.items() if (req - {"osxsave"} if kernel_view else req) <= names
    )


def split_arch_prefix(name: str) -> tuple[str | None, str]:
    """Split ``"x86-64.avx2"`` into ``("x86-64", "avx2")``; no prefix gives ``(None, name)``.

    Lower-cases and strips. A dot-separated prefix that is not a known architecture raises
    :class:`UnknownFeatureError` (systemd answers false; we say why).
    """
    text = name.strip().lower()
    if "." in text:
        arch, _, rest = text.partition(".")
        if arch not in ARCH_ALIASES:
            import difflib

            raise UnknownFeatureError(
                f"unknown architecture prefix {arch!r} in CPU feature {name!r} "
                f"(known: {', '.join(sorted(ARCH_ALIASES))})",
                name=name,
                suggestions=difflib.get_close_matches(arch, list(ARCH_ALIASES), n=3),
            )
        return ARCH_ALIASES[arch], rest
    return None, text


def canonical_name(name: str, *, arch: str = "x86-64") -> str:
    """Canonical feature name of ``name`` (no prefix) for ``arch``'s table.

    Case-insensitive; accepts canonical names, kernel tokens, systemd names, aliases and psABI level
    names (``x86-64-v3``). For ``arm64`` the kernel's hwcap names are used (see ``hwcaps.py``).

    Raises:
        UnknownFeatureError: not a known name; ``suggestions`` holds up to 3 close known names.
    """
    text = name.strip().lower()
    if arch == "arm64":
        from config_reloader.cpu import hwcaps

        if text in hwcaps.ARM64_NAMES:
            return text
        known: list[str] = list(hwcaps.ARM64_NAMES)
    else:
        if text in _BY_NAME:
            return text
        aliases = _aliases()
        if text in aliases:
            return aliases[text]
        if text in LEVELS:
            return text
        known = [*_BY_NAME, *aliases, *LEVELS]
    import difflib  # only on the error path: keeps start-up cheap

    suggestions = difflib.get_close_matches(text, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    raise UnknownFeatureError(
        f"unknown {arch} CPU feature {name!r}{hint}", name=name, suggestions=suggestions
    )
