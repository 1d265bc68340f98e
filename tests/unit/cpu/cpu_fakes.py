"""Fake CPUID providers and dump helpers for the cpu tests (no special hardware needed)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from config_reloader.cpu import features as ft

Regs = tuple[int, int, int, int]
_IDX = {"eax": 0, "ebx": 1, "ecx": 2, "edx": 3}


def dumps_dir() -> Path:
    """The real ``cpuid -r`` dumps shipped with the tests (tests/data/cpuid-dumps), or the
    directory named by ``CPUID_DUMPS`` (the arm64 rootfs run binds them elsewhere)."""
    env = os.environ.get("CPUID_DUMPS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data" / "cpuid-dumps"


def leaves_with(
    names: Iterable[str],
    *,
    max_basic: int = 0xD,
    max_ext: int = 0x80000008,
    extra: Mapping[tuple[int, int], Regs] | None = None,
) -> dict[tuple[int, int], Regs]:
    """Leaves where exactly the given canonical features' CPUID bits are set."""
    leaves: dict[tuple[int, int], list[int]] = {
        (0, 0): [max_basic, 0x756E6547, 0x6C65746E, 0x49656E69],
        (0x80000000, 0): [max_ext, 0, 0, 0],
        (7, 0): [1, 0, 0, 0],
        (7, 1): [0, 0, 0, 0],
        (1, 0): [0, 0, 0, 0],
        (0xD, 1): [0, 0, 0, 0],
        (0x80000001, 0): [0, 0, 0, 0],
    }
    for n in names:
        f = ft.by_name(n)
        assert f.leaf is not None, n
        regs = leaves.setdefault((f.leaf, f.subleaf), [0, 0, 0, 0])
        regs[_IDX[f.register]] |= 1 << f.bit
    out = {k: (v[0], v[1], v[2], v[3]) for k, v in leaves.items()}
    out.update(extra or {})
    return out


class FakeProvider:
    """(leaf, subleaf) -> registers for one CPU, enforcing CPUID hygiene.

    ``garbage_ecx``: leaf 7 answers garbage unless subleaf 0 (or 1) is passed explicitly, like a
    real CPU given whatever ECX held. Queries above the max leaf and XGETBV without OSXSAVE fail
    the test.
    """

    def __init__(
        self, leaves: Mapping[tuple[int, int], Regs], xcr0: int | None = 0xE7, *, garbage_ecx: bool = False
    ) -> None:
        self.leaves = dict(leaves)
        self.xcr0 = xcr0
        self.garbage_ecx = garbage_ecx
        self.calls: list[tuple[int, int]] = []

    def cpuid(self, leaf: int, subleaf: int) -> Regs:
        self.calls.append((leaf, subleaf))
        max_basic = self.leaves.get((0, 0), (0, 0, 0, 0))[0]
        max_ext = self.leaves.get((0x80000000, 0), (0, 0, 0, 0))[0]
        if leaf < 0x80000000:
            assert leaf <= max_basic, f"queried basic leaf {leaf:#x} above max {max_basic:#x}"
        elif leaf != 0x80000000:
            assert leaf <= max_ext, f"queried extended leaf {leaf:#x} above max {max_ext:#x}"
        if self.garbage_ecx and leaf == 7 and subleaf not in (0, 1):
            return (0xDEADBEEF, 0x5A5A5A5A, 0xA5A5A5A5, 0x12345678)
        return self.leaves.get((leaf, subleaf), (0, 0, 0, 0))

    def xgetbv(self, xcr: int = 0) -> int | None:
        osx = (self.leaves.get((1, 0), (0, 0, 0, 0))[2] >> 27) & 1
        assert osx, "XGETBV executed without OSXSAVE (would #UD)"
        return self.xcr0


_CPU_RE = re.compile(r"^CPU (\d+):\s*$", re.M)


def cpu_sections(text: str) -> list[str]:
    """Split `cpuid -r` text into per-CPU sections (without the header line)."""
    parts = _CPU_RE.split(text)
    return [parts[i + 1] for i in range(1, len(parts) - 1, 2)]


def concat_dumps(*texts: str) -> str:
    """Concatenate CPU sections of several dumps, renumbered (a synthetic, not real, machine)."""
    out = []
    n = 0
    for t in texts:
        for sec in cpu_sections(t):
            out.append(f"CPU {n}:\n{sec.strip(chr(10))}\n")
            n += 1
    return "".join(out)
