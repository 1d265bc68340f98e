"""arm64 CPU features from ``getauxval(AT_HWCAP/AT_HWCAP2/AT_HWCAP3)``, with the kernel's names.

On arm64 the kernel exports a system-wide *sanitised* value (safe on every CPU), so the per-CPU
answer is the same on all CPUs by construction; ``/proc/cpuinfo`` prints the same ``Features`` line.

Source: Linux ``Documentation/arch/arm64/elf_hwcaps.rst``, ``arch/arm64/include/uapi/asm/hwcap.h``
(bit numbers) and ``arch/arm64/kernel/cpuinfo.c`` (``hwcap_str``: the /proc/cpuinfo names). The
names are also the ones systemd 261's ``ConditionCPUFeature=`` accepts on arm64 (its tables in
``src/basic/virt.c`` cover exactly these bits: AT_HWCAP 0-47, AT_HWCAP2 0-63, AT_HWCAP3 0-11).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["ARM64_NAMES", "AT_HWCAP", "AT_HWCAP2", "AT_HWCAP3", "decode_hwcaps", "read_auxv_hwcaps"]

AT_HWCAP = 16
AT_HWCAP2 = 26
AT_HWCAP3 = 29

_HWCAP = [
    "fp",
    "asimd",
    "evtstrm",
    "aes",
    "pmull",
    "sha1",
    "sha2",
    "crc32",
    "atomics",
    "fphp",
    "asimdhp",
    "cpuid",
    "asimdrdm",
    "jscvt",
    "fcma",
    "lrcpc",
    "dcpop",
    "sha3",
    "sm3",
    "sm4",
    "asimddp",
    "sha512",
    "sve",
    "asimdfhm",
    "dit",
    "uscat",
    "ilrcpc",
    "flagm",
    "ssbs",
    "sb",
    "paca",
    "pacg",
    "gcs",
    "cmpbr",
    "fprcvt",
    "f8mm8",
    "f8mm4",
    "svef16mm",
    "sveeltperm",
    "sveaes2",
    "svebfscale",
    "sve2p2",
    "sme2p2",
    "smesbitperm",
    "smeaes",
    "smesfexpa",
    "smestmop",
    "smesmop4",
]
_HWCAP2 = [
    "dcpodp",
    "sve2",
    "sveaes",
    "svepmull",
    "svebitperm",
    "svesha3",
    "svesm4",
    "flagm2",
    "frint",
    "svei8mm",
    "svef32mm",
    "svef64mm",
    "svebf16",
    "i8mm",
    "bf16",
    "dgh",
    "rng",
    "bti",
    "mte",
    "ecv",
    "afp",
    "rpres",
    "mte3",
    "sme",
    "smei16i64",
    "smef64f64",
    "smei8i32",
    "smef16f32",
    "smeb16f32",
    "smef32f32",
    "smefa64",
    "wfxt",
    "ebf16",
    "sveebf16",
    "cssc",
    "rprfm",
    "sve2p1",
    "sme2",
    "sme2p1",
    "smei16i32",
    "smebi32i32",
    "smeb16b16",
    "smef16f16",
    "mops",
    "hbc",
    "sveb16b16",
    "lrcpc3",
    "lse128",
    "fpmr",
    "lut",
    "faminmax",
    "f8cvt",
    "f8fma",
    "f8dp4",
    "f8dp2",
    "f8e4m3",
    "f8e5m2",
    "smelutv2",
    "smef8f16",
    "smef8f32",
    "smesf8fma",
    "smesf8dp4",
    "smesf8dp2",
    "poe",
]
_HWCAP3 = [
    "mtefar",
    "mtestoreonly",
    "lsfe",
    "ls64",
    "sveb16mm",
    "sve2p3",
    "smelut6",
    "sme2p3",
    "f16mm",
    "f16f32dot",
    "f16f32mm",
    "svelut6",
]

# name -> (auxv type, bit)
ARM64_BITS: Mapping[str, tuple[int, int]] = {
    **{n: (AT_HWCAP, i) for i, n in enumerate(_HWCAP)},
    **{n: (AT_HWCAP2, i) for i, n in enumerate(_HWCAP2)},
    **{n: (AT_HWCAP3, i) for i, n in enumerate(_HWCAP3)},
}
ARM64_NAMES: frozenset[str] = frozenset(ARM64_BITS)


def decode_hwcaps(values: Mapping[int, int]) -> frozenset[str]:
    """Names whose bit is set in ``values`` (auxv type -> value, e.g. ``{16: 0x...}``).

    Missing auxv types count as 0 (older kernels have no AT_HWCAP3).
    """
    return frozenset(n for n, (t, b) in ARM64_BITS.items() if (values.get(t, 0) >> b) & 1)


def read_auxv_hwcaps(getauxval: Callable[[int], int] | None = None) -> dict[int, int]:
    """Read AT_HWCAP/2/3 of this process via libc ``getauxval`` (0 for unknown types)."""
    if getauxval is None:
        import ctypes

        libc = ctypes.CDLL(None)
        fn = libc.getauxval
        fn.restype = ctypes.c_ulong
        fn.argtypes = [ctypes.c_ulong]
        getauxval = fn
    return {t: int(getauxval(t)) for t in (AT_HWCAP, AT_HWCAP2, AT_HWCAP3)}
