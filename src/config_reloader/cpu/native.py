"""The ``cpuid-native`` backend: CPUID, XGETBV and ``sched_getcpu`` through the package's C
extension (``config_reloader.cpu._cpuid``, built from ``_cpuid.c`` at install time when a C
compiler and the Python headers are there).

Preferred to the ctypes stub (``cpuid-stub``) because it needs no executable memory of its own, so
it runs under ``MemoryDenyWriteExecute=`` / ``PR_SET_MDWE``, and because loading it costs a
fraction of ``import ctypes`` (libffi), which matters to the ``condition`` command's start-up.
Without the extension (a pure-Python install), :class:`NativeCpuid` raises
:class:`~config_reloader.errors.BackendUnavailable` and the next backend answers.
"""

from __future__ import annotations

from config_reloader.errors import BackendUnavailable

try:
    from config_reloader.cpu import _cpuid
except ImportError:  # not built (no compiler at install time), or built for another architecture
    _cpuid = None  # type: ignore[assignment]

__all__ = ["NativeCpuid", "available", "sched_getcpu"]


def available() -> bool:
    """True if the extension is loaded and has CPUID (it is built for x86 only)."""
    return _cpuid is not None and hasattr(_cpuid, "cpuid")


def sched_getcpu() -> int | None:
    """The CPU the calling thread runs on (``sched_getcpu(3)``), or ``None`` without the
    extension or when the call fails."""
    if _cpuid is None:
        return None
    try:
        return int(_cpuid.sched_getcpu())
    except OSError:
        return None


class NativeCpuid:
    """CPUID/XGETBV of the CPU the calling thread runs on (the ``CpuidProvider`` contract).

    Raises:
        BackendUnavailable: the extension is not built, or not for x86 (``reason`` says which).
    """

    name = "cpuid-native"

    def __init__(self) -> None:
        if _cpuid is None:
            raise BackendUnavailable(
                "the C extension config_reloader.cpu._cpuid is not installed (it is built at "
                "install time when gcc and the Python headers are present)",
                backend=self.name,
                reason="not built",
            )
        if not hasattr(_cpuid, "cpuid"):
            raise BackendUnavailable("the CPUID extension is x86 code", backend=self.name, reason="not x86")

    def cpuid(self, leaf: int, subleaf: int) -> tuple[int, int, int, int]:
        return _cpuid.cpuid(leaf, subleaf)

    def xgetbv(self, xcr: int = 0) -> int | None:
        # Only after checking OSXSAVE (cpuid.xcr0_of does): XGETBV faults with #UD otherwise.
        return _cpuid.xgetbv(xcr)
