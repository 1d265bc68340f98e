"""CPUID backends and the decoding of raw registers into the ``cpu`` and ``usable`` views.

Backends (rule C6 in docs/design.md), tried in this order by :func:`config_reloader.cpu.probe_machine`:

``cpuid-native``, ``cpuid-stub``
    CPUID/XGETBV run in this process (``native.py``: the C extension; ``stub.py``: machine code
    through ctypes) on a worker thread pinned to each CPU in turn (:func:`run_pinned`).
``dev-cpu``
    ``/dev/cpu/N/cpuid`` (root, kernel module ``cpuid``): ``pread`` at offset ``leaf | subleaf << 32``
    runs CPUID on CPU N via IPI, even for CPUs outside our cpuset. XCR0 comes from
    ``arch_prctl(ARCH_GET_XCOMP_SUPP)`` (the XSAVE features the kernel enables for user space).
``glibc``
    ``__x86_get_cpuid_feature_leaf`` (glibc >= 2.33): glibc's ``cpuid`` and ``active`` arrays of the
    CPU the process started on; no executable memory needed, no per-CPU data.
``proc-cpuinfo``
    the kernel's ``flags`` per processor only; the ``cpu``/``usable`` views are approximated by it.

Hygiene (rule C4 in docs/design.md): the subleaf is always passed, the max basic / extended leaf is read
first and leaves above it are never queried, XGETBV runs only when CPUID.1:ECX.OSXSAVE[27] is set.

Sources: Intel SDM vol. 2A "CPUID", "XGETBV"; Linux ``arch/x86/kernel/cpuid.c`` (the device's offset
encoding), ``Documentation/arch/x86/xstate.rst`` (arch_prctl ARCH_GET_XCOMP_SUPP = 0x1021);
``prctl(2)`` PR_SET_MDWE = 65; glibc ``sys/platform/x86.h``.
"""

from __future__ import annotations

import _thread  # not threading: its import costs ~0.6 ms of the `condition` start-up
import errno
import os

from config_reloader.cpu import features as ft
from config_reloader.errors import BackendUnavailable

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, TypeVar

    from config_reloader.cpu.provider import CpuidProvider as CpuidProvider

    T = TypeVar("T")

__all__ = [
    "DevCpuProvider",
    "GlibcCpuFeatures",
    "LeafKey",
    "Regs",
    "TableProvider",
    "arch_prctl_xcomp_supp",
    "decode",
    "read_leaves",
    "run_pinned",
    "xcr0_of",
]

Regs = tuple[int, int, int, int]
LeafKey = tuple[int, int]
_ZERO: Regs = (0, 0, 0, 0)
_REG_INDEX = {"eax": 0, "ebx": 1, "ecx": 2, "edx": 3}
_EXT = 0x80000000


class TableProvider:
    """A provider answering from a table ``(leaf, subleaf) -> registers`` (captures, test fakes).

    Missing entries answer zeros (like a reserved leaf).
    """

    def __init__(self, leaves: Mapping[LeafKey, Regs], xcr0: int | None = None) -> None:
        self.leaves = dict(leaves)
        self.xcr0 = xcr0

    def cpuid(self, leaf: int, subleaf: int) -> Regs:
        """The table's registers for ``(leaf, subleaf)``; zeros for a leaf it does not hold."""
        return self.leaves.get((leaf, subleaf), _ZERO)

    def xgetbv(self, xcr: int = 0) -> int | None:
        """The table's XCR0 for ``xcr=0``; ``None`` (unknown) for any other register."""
        return self.xcr0 if xcr == 0 else None


# --- reading and decoding -------------------------------------------------------------------------
_BASIC_LEAVES = (1, 6, 7, 0xD, 0x1A)
_EXT_LEAVES = (0x80000001, 0x80000002, 0x80000003, 0x80000004, 0x80000007, 0x80000008)


def _max_ext(leaves: Mapping[LeafKey, Regs]) -> int:
    eax = leaves.get((_EXT, 0), _ZERO)[0]
    return eax if _EXT <= eax <= 0x8000FFFF else 0


def read_leaves(provider: CpuidProvider) -> dict[LeafKey, Regs]:
    """Read every leaf the feature tables need (plus 0x1A core type and the brand string).

    Reads leaf 0 and 0x80000000 first and never queries a leaf above the maximum (Intel answers
    such a query with the data of the highest basic leaf). Leaf 7 subleaf 1 is read only when
    7.0 EAX (max subleaf) >= 1; leaf 0xD subleaves 0 and 1 always with an explicit subleaf.
    """
    out: dict[LeafKey, Regs] = {(0, 0): tuple(provider.cpuid(0, 0))}  # type: ignore[dict-item]
    max_basic = out[(0, 0)][0]
    for leaf in _BASIC_LEAVES:
        if leaf > max_basic:
            continue
        out[(leaf, 0)] = tuple(provider.cpuid(leaf, 0))  # type: ignore[assignment]
        if leaf == 7 and out[(7, 0)][0] >= 1:
            out[(7, 1)] = tuple(provider.cpuid(7, 1))  # type: ignore[assignment]
        if leaf == 0xD:
            out[(0xD, 1)] = tuple(provider.cpuid(0xD, 1))  # type: ignore[assignment]
    out[(_EXT, 0)] = tuple(provider.cpuid(_EXT, 0))  # type: ignore[assignment]
    max_ext = _max_ext(out)
    for leaf in _EXT_LEAVES:
        if leaf <= max_ext:
            out[(leaf, 0)] = tuple(provider.cpuid(leaf, 0))  # type: ignore[assignment]
    return out


def osxsave(leaves: Mapping[LeafKey, Regs]) -> bool:
    """CPUID.1:ECX.OSXSAVE[27]: the OS has set CR4.OSXSAVE (XGETBV is allowed)."""
    return bool((leaves.get((1, 0), _ZERO)[2] >> 27) & 1)


def xcr0_of(provider: CpuidProvider, leaves: Mapping[LeafKey, Regs]) -> int | None:
    """XCR0 of this CPU: 0 without OSXSAVE (XGETBV would fault), else ``provider.xgetbv(0)``."""
    if not osxsave(leaves):
        return 0
    return provider.xgetbv(0)


def _bit_table() -> tuple[tuple[tuple[int, int, int], tuple[tuple[int, str, int | None], ...]], ...]:
    """The feature table grouped by the register that holds the bits:
    ``((leaf, subleaf, register index), ((bit, name, xcr0 mask), ...)), ...`` in table order."""
    groups: dict[tuple[int, int, int], list[tuple[int, str, int | None]]] = {}
    for f in ft.X86_FEATURES:
        if f.leaf is not None:
            groups.setdefault((f.leaf, f.subleaf, _REG_INDEX[f.register]), []).append((f.bit, f.name, f.xcr0))
    return tuple((key, tuple(bits)) for key, bits in groups.items())


_BITS = _bit_table()
_DECODED: dict[tuple[tuple[int, ...], int | None], tuple[frozenset[str], frozenset[str]]] = {}
_DECODED_MAX = 64  # distinct (registers, XCR0) pairs remembered: CPU models in one machine or capture


def _feature_registers(leaves: Mapping[LeafKey, Regs]) -> tuple[int, ...]:
    """The registers the feature table reads, in ``_BITS`` order; 0 for a leaf above the maximum
    basic/extended leaf or a leaf 7 subleaf above 7.0 EAX (never data of another leaf)."""
    max_basic = leaves.get((0, 0), _ZERO)[0]
    max_ext = _max_ext(leaves)
    max7 = leaves.get((7, 0), _ZERO)[0]
    out = []
    for (leaf, subleaf, reg), _bits in _BITS:
        valid = (leaf <= max_ext if leaf >= _EXT else leaf <= max_basic) and (leaf != 7 or subleaf <= max7)
        out.append(leaves.get((leaf, subleaf), _ZERO)[reg] if valid else 0)
    return tuple(out)


def decode(leaves: Mapping[LeafKey, Regs], xcr0: int | None) -> tuple[frozenset[str], frozenset[str]]:
    """Decode raw leaves into ``(cpu view, usable view)`` (canonical names).

    ``usable`` = the CPUID bit AND, for features with XSAVE-managed state, OSXSAVE set and
    ``xcr0 & mask == mask`` (AVX-class 0x6, AVX-512 0xE6, AMX 0x60000). ``xcr0=None`` (unknown)
    makes every XSAVE-state feature unusable. AMX additionally needs a per-process
    ``arch_prctl(ARCH_REQ_XCOMP_PERM)`` that the service must make itself (cleared on exec); usable
    here means "the kernel enables it", not "this process already has permission".

    A pure function of the feature registers and XCR0, so CPUs of one model (which differ only in
    their APIC IDs) share one decoding: a 64-CPU machine decodes once or twice, not 64 times.

    Source: Intel SDM vol. 1 §14.3, §15.2, §18.2; glibc cpu-features.c (same rule).
    """
    regs = _feature_registers(leaves)
    known = _DECODED.get((regs, xcr0))
    if known is not None:
        return known
    os_ok = osxsave(leaves)
    cpu: list[str] = []
    usable: list[str] = []
    for value, (_key, bits) in zip(regs, _BITS, strict=True):
        if not value:
            continue
        for bit, name, mask in bits:
            if (value >> bit) & 1:
                cpu.append(name)
                if mask is None or (os_ok and xcr0 is not None and xcr0 & mask == mask):
                    usable.append(name)
    result = (frozenset(cpu), frozenset(usable))
    if len(_DECODED) < _DECODED_MAX:
        _DECODED[(regs, xcr0)] = result
    return result


# --- running on each CPU --------------------------------------------------------------------------


def run_pinned(cpus: Iterable[int], fn: Callable[[int], T]) -> dict[int, T | None]:
    """Call ``fn(cpu)`` on a worker thread pinned to each CPU in turn.

    Only the worker thread's affinity changes (Linux ``sched_setaffinity(0)`` = calling thread);
    it is restored before the thread ends. A CPU that cannot be pinned (offline, outside the
    cpuset: EINVAL) gives ``None``. Exceptions other than that propagate.
    """
    result: dict[int, T | None] = {}
    failure: list[BaseException] = []

    order_given = list(cpus)
    order = list(order_given)

    def work() -> None:
        from config_reloader.cpu.topology import current_cpu

        original = os.sched_getaffinity(0)
        # Start on the CPU this thread already runs on: pinning there migrates nothing, and each
        # migration waits for the target CPU to be free (milliseconds on a loaded machine).
        here = current_cpu()
        order.sort(key=lambda c: c != here)
        try:
            for cpu in order:
                try:
                    os.sched_setaffinity(0, {cpu})
                except OSError:
                    result[cpu] = None
                    continue
                result[cpu] = fn(cpu)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        finally:
            try:
                os.sched_setaffinity(0, original)
            except OSError:
                pass

    done = _thread.allocate_lock()
    done.acquire()

    def thread_main() -> None:
        try:
            work()
        finally:
            done.release()

    _thread.start_new_thread(thread_main, ())
    done.acquire()  # the join: released when the worker has restored its affinity
    if failure:
        raise failure[0]
    return {c: result[c] for c in order_given if c in result}  # in the order given


# --- backend 2: /dev/cpu/N/cpuid ------------------------------------------------------------------
_ARCH_GET_XCOMP_SUPP = 0x1021
_SYS_arch_prctl = 158  # x86-64


def arch_prctl_xcomp_supp() -> int | None:
    """XSAVE features the kernel supports for user space (``arch_prctl(ARCH_GET_XCOMP_SUPP)``).

    Returns ``None`` if the call fails (old kernel < 5.16, not x86-64). Source: Linux
    Documentation/arch/x86/xstate.rst.
    """
    if os.uname().machine != "x86_64":
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    val = ctypes.c_uint64(0)
    rc = libc.syscall(ctypes.c_long(_SYS_arch_prctl), ctypes.c_int(_ARCH_GET_XCOMP_SUPP), ctypes.byref(val))
    return int(val.value) if rc == 0 else None


class DevCpuProvider:
    """CPUID of CPU ``cpu`` through ``/dev/cpu/<cpu>/cpuid``.

    Raises:
        BackendUnavailable: the device is missing (no ``cpuid`` module, even after ``modprobe``)
            or not readable (not root).
        FileNotFoundError/OSError(ENXIO): this CPU is offline (the caller reports it unknown).
    """

    name = "dev-cpu"
    _modprobe_tried = False

    def __init__(self, cpu: int, *, dev_root: str = "/dev", xcr0: int | None = None) -> None:
        path = os.path.join(dev_root, "cpu", str(cpu), "cpuid")
        if not os.path.exists(os.path.join(dev_root, "cpu")):
            self._try_modprobe(dev_root)
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except PermissionError as exc:
            raise BackendUnavailable(
                f"{path}: {exc.strerror} (needs root)", backend=self.name, reason="EACCES"
            ) from exc
        except FileNotFoundError as exc:
            if not os.path.exists(os.path.join(dev_root, "cpu")):
                raise BackendUnavailable(
                    f"{path} missing (kernel module cpuid not loaded)", backend=self.name, reason="ENOENT"
                ) from exc
            raise
        self._xcr0 = xcr0

    @classmethod
    def _try_modprobe(cls, dev_root: str) -> None:
        """Try ``modprobe cpuid`` once per process (root only); never required."""
        if cls._modprobe_tried or dev_root != "/dev" or os.geteuid() != 0:
            return
        cls._modprobe_tried = True
        import subprocess

        try:
            subprocess.run(
                ["modprobe", "-q", "cpuid"],
                check=False,
                timeout=5,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            pass

    def cpuid(self, leaf: int, subleaf: int) -> Regs:
        data = os.pread(self._fd, 16, leaf | (subleaf << 32))
        if len(data) != 16:
            raise OSError(errno.EIO, f"short read from cpuid device ({len(data)} bytes)")
        v = memoryview(data).cast("I")
        return (v[0], v[1], v[2], v[3])

    def xgetbv(self, xcr: int = 0) -> int | None:
        return self._xcr0 if xcr == 0 else None

    def close(self) -> None:
        os.close(self._fd)


# --- backend 3: glibc -----------------------------------------------------------------------------
# glibc's CPUID_INDEX_* order (sys/platform/x86.h): index -> (leaf, subleaf)
_GLIBC_INDEX: tuple[LeafKey, ...] = (
    (1, 0),
    (7, 0),
    (0x80000001, 0),
    (0xD, 1),
    (0x80000007, 0),
    (0x80000008, 0),
    (7, 1),
)


class GlibcCpuFeatures:
    """glibc's view via ``__x86_get_cpuid_feature_leaf`` (glibc >= 2.33, x86 only).

    ``leaves`` holds glibc's ``cpuid`` arrays (+ synthetic max-leaf entries); ``xcr0`` is inferred
    from glibc's ``active`` bits (AVX -> 0x6, AVX512F -> 0xE6, AMX-TILE -> 0x60000), because glibc
    does not export XCR0. Describes the CPU the process started on.

    Raises:
        BackendUnavailable: the symbol is missing (not glibc, glibc < 2.33, not x86).
    """

    name = "glibc"

    def __init__(self) -> None:
        import ctypes

        class _Leaf(ctypes.Structure):
            _fields_ = [("cpuid", ctypes.c_uint32 * 4), ("active", ctypes.c_uint32 * 4)]

        try:
            fn: Any = getattr(ctypes.CDLL(None), "__x86_get_cpuid_feature_leaf")
        except AttributeError as exc:
            raise BackendUnavailable(
                "glibc has no __x86_get_cpuid_feature_leaf",
                backend=self.name,
                reason="symbol missing (glibc < 2.33 or not x86)",
            ) from exc
        fn.restype = ctypes.POINTER(_Leaf)
        fn.argtypes = [ctypes.c_uint]
        leaves: dict[LeafKey, Regs] = {}
        active: dict[LeafKey, Regs] = {}
        for idx, key in enumerate(_GLIBC_INDEX):
            p = fn(idx)
            if not p:
                continue
            leaves[key] = tuple(int(x) for x in p.contents.cpuid)  # type: ignore[assignment]
            active[key] = tuple(int(x) for x in p.contents.active)  # type: ignore[assignment]
        if not any(any(r) for r in leaves.values()):
            raise BackendUnavailable("glibc returned no CPUID data", backend=self.name, reason="empty")
        leaves[(0, 0)] = (0xD, 0, 0, 0)  # glibc only stores leaves <= 0xD we need
        leaves[(0x80000000, 0)] = (0x80000008, 0, 0, 0)
        self.leaves = leaves
        self.active = active
        xcr0 = 0
        if (active.get((1, 0), _ZERO)[2] >> 28) & 1:
            xcr0 |= ft.XCR0_AVX
        if (active.get((7, 0), _ZERO)[1] >> 16) & 1:
            xcr0 |= ft.XCR0_AVX512
        if (active.get((7, 0), _ZERO)[3] >> 24) & 1:
            xcr0 |= ft.XCR0_AMX
        self.xcr0 = xcr0
