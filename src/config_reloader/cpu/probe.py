"""Probing this machine: choose a backend, read every CPU, add the kernel view.

Keep imports light (``config-reloader condition`` start-up budget): ctypes is only imported by the
backends when they run; ``logging`` only when a log record is emitted; ``os.uname()`` instead of
``platform``.
"""

from __future__ import annotations

import os

from config_reloader.cpu import cpuid as cp
from config_reloader.cpu import features as ft
from config_reloader.cpu import topology
from config_reloader.cpu.model import CpuFeatures, MachineFeatures
from config_reloader.cpu.native import NativeCpuid
from config_reloader.errors import BackendUnavailable

TYPE_CHECKING = False  # collections.abc is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "BACKENDS",
    "build_cpu",
    "kernel_names",
    "machine_arch",
    "probe_machine",
    "read_proc_cpuinfo",
    "systemd_has_feature",
]

BACKENDS = ("cpuid-native", "cpuid-stub", "dev-cpu", "glibc", "proc-cpuinfo")
"""x86 backends in the order they are tried (``hwcaps`` is the only arm64 backend)."""


def machine_arch(machine: str | None = None) -> str:
    """systemd's architecture name for the kernel's machine name (``os.uname().machine``, what
    ``platform.machine()`` returns): ``x86_64`` -> ``x86-64``."""
    m = machine or os.uname().machine
    return {
        "x86_64": "x86-64",
        "amd64": "x86-64",
        "AMD64": "x86-64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "i386": "x86",
        "i686": "x86",
    }.get(m, m)


def kernel_names(tokens: Iterable[str]) -> frozenset[str]:
    """Map /proc/cpuinfo tokens to canonical names; tokens not in the table are kept as printed."""
    return ft.kernel_tokens_to_names(tokens)


def read_proc_cpuinfo(
    proc_root: str = "/proc", keys: tuple[str, ...] = ("flags", "Features")
) -> dict[int, tuple[str, ...]]:
    """Per-processor ``flags`` (x86) or ``Features`` (arm64) tokens from ``<proc_root>/cpuinfo``.

    ``keys``: the field names to read (``("Features",)`` on arm64: under qemu-user the file is the
    host's, whose x86 ``flags`` are not this process's features). Only online CPUs appear.
    Returns ``{}`` if the file is unreadable.
    """
    try:
        with open(os.path.join(proc_root, "cpuinfo"), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return {}
    out: dict[int, tuple[str, ...]] = {}
    cpu: int | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "processor":
            try:
                cpu = int(value.strip())
            except ValueError:
                cpu = None
        elif key in keys and cpu is not None:
            out[cpu] = tuple(value.split())
    return out


def build_cpu(
    cpu: int,
    leaves: Mapping[tuple[int, int], tuple[int, int, int, int]],
    *,
    xcr0: int | None,
    xcr0_source: str | None,
    kernel_tokens: Iterable[str] | None,
) -> CpuFeatures:
    """Decode one CPU's raw data into :class:`CpuFeatures`.

    Without leaves (kernel view only), ``cpu_view`` and ``usable`` are approximated by the kernel
    flags that are in the table (the kernel hides AVX when XSAVE is off, so that is conservative).
    """
    kernel = kernel_names(kernel_tokens) if kernel_tokens is not None else None
    if leaves:
        cpu_view, usable = cp.decode(leaves, xcr0)
    else:
        approx = frozenset(n for n in (kernel or ()) if n in {f.name for f in ft.X86_FEATURES})
        cpu_view = usable = approx
    return CpuFeatures(
        cpu=cpu,
        cpu_view=cpu_view,
        usable=usable,
        kernel=kernel,
        levels=ft.levels_of(set(usable)),
        leaves=dict(leaves),
        xcr0=xcr0,
        xcr0_source=xcr0_source,
        core_type=topology.core_type(leaves),
    )


def _in_process(
    provider: cp.CpuidProvider, targets: list[int], kernel: Mapping[int, tuple[str, ...]]
) -> tuple[dict[int, CpuFeatures | None], list[str]]:
    """CPUID and XGETBV run by this process on a worker thread pinned to each CPU in turn."""

    def one(cpu: int) -> CpuFeatures:
        leaves = cp.read_leaves(provider)
        xcr0 = cp.xcr0_of(provider, leaves)
        return build_cpu(cpu, leaves, xcr0=xcr0, xcr0_source="xgetbv", kernel_tokens=kernel.get(cpu))

    got = cp.run_pinned(targets, one)
    notes = []
    failed = sorted(c for c, v in got.items() if v is None)
    if failed:
        notes.append(
            f"CPUs {topology.format_cpulist(failed)} could not be pinned (offline or outside "
            "the cpuset): unknown"
        )
    return dict(got), notes


def _dev_cpu(
    targets: list[int], kernel: Mapping[int, tuple[str, ...]], dev_root: str
) -> tuple[dict[int, CpuFeatures | None], list[str]]:
    xcr0 = cp.arch_prctl_xcomp_supp()
    notes = [
        "dev-cpu: XCR0 taken from arch_prctl(ARCH_GET_XCOMP_SUPP)"
        if xcr0 is not None
        else "dev-cpu: XCR0 unknown (arch_prctl failed): XSAVE-state features reported unusable"
    ]
    out: dict[int, CpuFeatures | None] = {}
    for cpu in targets:
        try:
            prov = cp.DevCpuProvider(cpu, dev_root=dev_root, xcr0=xcr0)
        except BackendUnavailable:
            raise
        except OSError:
            out[cpu] = None  # ENXIO / ENOENT for this CPU: offline
            continue
        try:
            leaves = cp.read_leaves(prov)
            x = cp.xcr0_of(prov, leaves)
            out[cpu] = build_cpu(cpu, leaves, xcr0=x, xcr0_source="arch_prctl", kernel_tokens=kernel.get(cpu))
        except OSError:
            out[cpu] = None
        finally:
            prov.close()
    return out, notes


def _glibc(
    targets: list[int], kernel: Mapping[int, tuple[str, ...]], current: int | None
) -> tuple[dict[int, CpuFeatures | None], list[str]]:
    g = cp.GlibcCpuFeatures()
    where = current if current is not None else (targets[0] if targets else 0)
    out: dict[int, CpuFeatures | None] = {c: None for c in targets}
    out[where] = build_cpu(
        where, g.leaves, xcr0=g.xcr0, xcr0_source="glibc-active", kernel_tokens=kernel.get(where)
    )
    return out, [f"glibc: data of the CPU the process started on, shown as CPU {where}; other CPUs unknown"]


def _proc(
    targets: list[int], kernel: Mapping[int, tuple[str, ...]]
) -> tuple[dict[int, CpuFeatures | None], list[str]]:
    if not kernel:
        raise BackendUnavailable("/proc/cpuinfo unreadable", backend="proc-cpuinfo", reason="ENOENT")
    out: dict[int, CpuFeatures | None] = {
        c: (build_cpu(c, {}, xcr0=None, xcr0_source=None, kernel_tokens=kernel[c]) if c in kernel else None)
        for c in targets
    }
    return out, ["proc-cpuinfo: cpu and usable views approximated by the kernel flags"]


def _log_unavailable(exc: BackendUnavailable) -> None:
    import logging  # only when a backend is refused: the common path never imports logging

    logging.getLogger(__name__).debug(
        "cpu backend unavailable", extra={"backend": exc.backend, "reason": exc.reason}
    )


def probe_machine(
    *,
    cpus: Iterable[int] | None = None,
    backend: str | None = None,
    proc_root: str = "/proc",
    sysfs_root: str = "/sys",
    dev_root: str = "/dev",
) -> MachineFeatures:
    """Probe the features of every CPU of this machine.

    Args:
        cpus: CPUs to read; default: every possible CPU (``sysfs_root``) plus the affinity mask.
            CPUs outside the affinity mask are read where the backend can (``dev-cpu``), else
            unknown; offline CPUs are unknown.
        backend: force one backend (``BACKENDS``); default: the first that works, in order.
        proc_root, sysfs_root, dev_root: filesystem roots (tests).

    Returns:
        MachineFeatures; ``backend`` names who answered, ``notes`` says which backends were
        refused and why.

    Raises:
        BackendUnavailable: the forced backend cannot run, or none can.
        ValueError: unknown backend name.
    """
    arch = machine_arch()
    if backend is not None and backend not in (*BACKENDS, "hwcaps"):
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join((*BACKENDS, 'hwcaps'))})")
    if backend is not None and (backend == "hwcaps") != (arch == "arm64"):
        raise ValueError(
            f"backend {backend!r} cannot run on {arch} "
            f"({'hwcaps is the only arm64 backend' if arch == 'arm64' else 'hwcaps is for arm64'})"
        )
    aff = topology.affinity()
    current = topology.current_cpu()
    possible = topology.possible_cpus(sysfs_root) or frozenset()
    targets = sorted(set(cpus) if cpus is not None else (possible | aff))
    kernel = read_proc_cpuinfo(proc_root, ("Features",) if arch == "arm64" else ("flags",))
    hostname = os.uname().nodename or None
    if arch == "arm64":
        from config_reloader.cpu import hwcaps

        names = hwcaps.decode_hwcaps(hwcaps.read_auxv_hwcaps())
        arm_notes = ["arm64: HWCAPs are the kernel's system-wide sanitised value, identical on every CPU"]
        if not kernel:
            arm_notes.append(
                f"{proc_root}/cpuinfo has no arm64 'Features' lines (under qemu-user it is the "
                "host's file): kernel view unknown"
            )
        online = topology.online_cpus(sysfs_root) or aff
        out = {
            c: (
                CpuFeatures(c, names, names, kernel_names(kernel[c]) if c in kernel else None, frozenset())
                if c in online
                else None
            )
            for c in targets
        }
        return MachineFeatures(
            arch,
            "hwcaps",
            out,
            tuple(arm_notes),
            aff,
            current,
            hostname,
        )
    if arch not in ("x86-64", "x86"):
        out2: dict[int, CpuFeatures | None] = {c: None for c in targets}
        return MachineFeatures(
            arch, "none", out2, (f"no CPU feature table for {arch}",), aff, current, hostname
        )
    order = [backend] if backend else list(BACKENDS)
    notes: list[str] = []
    last: BackendUnavailable | None = None
    for b in order:
        try:
            if b == "cpuid-native":
                got, more = _in_process(NativeCpuid(), targets, kernel)
            elif b == "cpuid-stub":
                from config_reloader.cpu.stub import StubCpuid  # only without the C extension

                got, more = _in_process(StubCpuid(), targets, kernel)
            elif b == "dev-cpu":
                got, more = _dev_cpu(targets, kernel, dev_root)
            elif b == "glibc":
                got, more = _glibc(targets, kernel, current)
            else:
                got, more = _proc(targets, kernel)
        except BackendUnavailable as exc:
            _log_unavailable(exc)
            notes.append(f"{exc.backend} unavailable: {exc}")
            last = exc
            continue
        return MachineFeatures(arch, b, got, tuple(notes + more), aff, current, hostname)
    assert last is not None
    raise last


def systemd_has_feature(name: str, provider: cp.CpuidProvider | None = None) -> bool:
    """Exactly systemd 252's ``ConditionCPUFeature=`` answer (``--systemd-compat``).

    The name is ASCII-lower-cased and looked up in systemd's 51-name table (an ``ARCH.`` prefix or
    any other name is unknown, hence ``False``, as systemd 252 does silently). CPUID runs once on the
    calling thread's CPU (leaf 7 with subleaf 0, leaves above the maximum are not read); no XGETBV,
    no /proc/cpuinfo. Default provider: the C extension, else the stub, else /dev/cpu of the
    current CPU, else glibc.

    Source: systemd src/basic/virt.c ``has_cpu_with_flag``; src/shared/condition.c (v252).
    """
    lowered = name.lower()
    feature = next((f for f in ft.X86_FEATURES if f.systemd_name == lowered), None)
    if feature is None:
        return False
    if provider is None:
        provider = _default_provider()
    leaves = cp.read_leaves(provider)
    return feature.name in cp.decode(leaves, None)[0]


def _default_provider() -> cp.CpuidProvider:
    try:
        return NativeCpuid()
    except BackendUnavailable:
        pass
    from config_reloader.cpu.stub import StubCpuid  # only without the C extension

    try:
        return StubCpuid()
    except BackendUnavailable:
        pass
    cur = topology.current_cpu()
    try:
        return cp.DevCpuProvider(cur or 0)
    except (BackendUnavailable, OSError):
        g = cp.GlibcCpuFeatures()
        return cp.TableProvider(g.leaves, g.xcr0)
