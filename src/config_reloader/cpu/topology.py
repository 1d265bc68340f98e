"""Which CPUs to evaluate, online/offline state, kernel cpulists, and topology masking.

Sources: Linux ``Documentation/admin-guide/cputopology.rst`` (``/sys/devices/system/cpu/{possible,
online}``, cpulist syntax ``0-3,8``), ``sched_setaffinity(2)`` (the affinity mask is the cpuset ∩
the thread's mask), Intel SDM vol. 2A CPUID leaf 1 EBX[31:24] (initial APIC ID), leaves 0xB/0x1F
(x2APIC topology), 0x1A (hybrid core type); AMD APM vol. 3 leaf 0x8000001E.
"""

from __future__ import annotations

import os

from config_reloader.cpu import native

TYPE_CHECKING = False  # collections.abc is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "CORE_TYPES",
    "affinity",
    "core_type",
    "current_cpu",
    "format_cpulist",
    "masked_leaves",
    "online_cpus",
    "parse_cpulist",
    "possible_cpus",
]

Regs = tuple[int, int, int, int]


def parse_cpulist(text: str) -> frozenset[int]:
    """Parse the kernel's cpulist syntax (``"0-3,8,10-11"``, ``""`` = empty; ``0-7:2`` strides).

    Raises:
        ValueError: malformed text (names the bad part).
    """
    out: set[int] = set()
    for raw in text.strip().split(","):
        part = raw.strip()
        if not part:
            continue
        try:
            stride = 1
            if ":" in part:
                part, _, s = part.partition(":")
                stride = int(s)
            if "-" in part:
                a, _, b = part.partition("-")
                lo, hi = int(a), int(b)
                if lo > hi or lo < 0 or stride < 1:
                    raise ValueError
                out.update(range(lo, hi + 1, stride))
            else:
                n = int(part)
                if n < 0:
                    raise ValueError
                out.add(n)
        except ValueError:
            raise ValueError(f"bad cpulist element {raw!r} in {text!r} (expected e.g. 0-3,8)") from None
    return frozenset(out)


def format_cpulist(cpus: Iterable[int]) -> str:
    """Format CPUs in the kernel's cpulist syntax: ``{0,1,2,3,8}`` -> ``"0-3,8"``; empty -> ``""``."""
    nums = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ",".join(parts)


def _read_list(sysfs_root: str, name: str) -> frozenset[int] | None:
    try:
        with open(
            os.path.join(sysfs_root, "devices/system/cpu", name), encoding="utf-8"
        ) as fh:  # ASCII text; utf-8 needs no codec import
            return parse_cpulist(fh.read())
    except (OSError, ValueError):
        return None


def online_cpus(sysfs_root: str = "/sys") -> frozenset[int] | None:
    """CPUs listed in ``<sysfs_root>/devices/system/cpu/online``, or ``None`` if unreadable."""
    return _read_list(sysfs_root, "online")


def possible_cpus(sysfs_root: str = "/sys") -> frozenset[int] | None:
    """CPUs listed in ``<sysfs_root>/devices/system/cpu/possible``, or ``None`` if unreadable."""
    return _read_list(sysfs_root, "possible")


def affinity() -> frozenset[int]:
    """CPUs this process may run on: ``os.sched_getaffinity(0)`` (cpuset ∩ affinity mask)."""
    return frozenset(os.sched_getaffinity(0))


def current_cpu() -> int | None:
    """The CPU the calling thread runs on right now (``sched_getcpu``), or ``None``."""
    cpu = native.sched_getcpu()
    if cpu is not None:
        return cpu
    try:
        import ctypes  # only without the C extension: importing ctypes costs ~1.2 ms of start-up

        n = int(ctypes.CDLL(None).sched_getcpu())
        return n if n >= 0 else None
    except (OSError, AttributeError):
        return None


CORE_TYPES: Mapping[int, str] = {0x20: "atom", 0x40: "core"}
"""CPUID.1A:EAX[31:24] core types (Intel SDM vol. 2A, leaf 1AH): 0x20 Intel Atom (E), 0x40 Intel Core (P)."""


def core_type(leaves: Mapping[tuple[int, int], Regs]) -> str | None:
    """Hybrid core type of one CPU from leaf 0x1A (``"core"``, ``"atom"``, ``"0x..."``), or ``None``."""
    if leaves.get((0, 0), (0, 0, 0, 0))[0] < 0x1A:
        return None
    eax = leaves.get((0x1A, 0), (0, 0, 0, 0))[0]
    if eax == 0:
        return None
    kind = eax >> 24
    return CORE_TYPES.get(kind, hex(kind))


def masked_leaves(leaves: Mapping[tuple[int, int], Regs]) -> dict[tuple[int, int], Regs]:
    """A copy with the per-CPU identity fields cleared, for comparing CPUs with each other.

    Clears leaf 1 EBX[31:24] (initial APIC ID), leaf 0xB/0x1F EDX (x2APIC ID) and all of
    0x8000001E (AMD APIC/core/node IDs) and 0x80000026 EDX. Leaf 6 EDX[31:16] (Thread Director row)
    is also cleared.
    """
    out: dict[tuple[int, int], Regs] = {}
    for (leaf, sub), r in leaves.items():
        a, b, c, d = r
        if leaf == 1:
            b &= 0x00FFFFFF
        elif leaf in (0xB, 0x1F) or leaf == 0x80000026:
            d = 0
        elif leaf == 6:
            d &= 0xFFFF
        elif leaf == 0x8000001E:
            a = b = c = d = 0
        out[(leaf, sub)] = (a, b, c, d)
    return out
