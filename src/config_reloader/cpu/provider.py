"""The one-CPU CPUID interface (``config_reloader.cpu.CpuidProvider``).

A module of its own because a ``typing.Protocol`` needs ``typing`` at run time, which the
``condition`` command's start-up path does not import otherwise; the backends in ``cpuid.py``
refer to it for type checking only.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CpuidProvider"]


class CpuidProvider(Protocol):
    """CPUID of one CPU (the contract of docs/INTERFACES.md)."""

    def cpuid(self, leaf: int, subleaf: int) -> tuple[int, int, int, int]:
        """EAX, EBX, ECX, EDX of CPUID(EAX=leaf, ECX=subleaf)."""
        ...

    def xgetbv(self, xcr: int = 0) -> int | None:
        """XCR[xcr] (64 bits), or ``None`` when this provider cannot know it."""
        ...
