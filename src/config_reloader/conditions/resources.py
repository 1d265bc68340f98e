"""Checks of resources: ``ControlGroupController``, ``Memory``, ``CPUs``, and the PSI types
``MemoryPressure``, ``CPUPressure``, ``IOPressure``."""

from __future__ import annotations

import os

from config_reloader.conditions.base import CheckError, Context, Outcome, read_first, read_text, syntax_error
from config_reloader.conditions.values import (
    OP_TEXT,
    WS,
    parse_compare_operator,
    parse_permyriad,
    parse_size,
    test_order,
)
from config_reloader.errors import NotSupportedHere

__all__ = [
    "CGROUP_CONTROLLERS",
    "cgroup_unified",
    "check_control_group_controller",
    "check_cpu_pressure",
    "check_cpus",
    "check_io_pressure",
    "check_memory",
    "check_memory_pressure",
    "physical_memory",
]


# --- cgroups, memory, CPUs, PSI -------------------------------------------------------------------
_CG_V1 = ("cpu", "cpuacct", "blkio", "memory", "devices", "pids")
_CG_V2 = ("cpu", "cpuset", "io", "memory", "pids")
_CG_BPF = ("bpf-firewall", "bpf-devices", "bpf-foreign", "bpf-socket-bind", "bpf-restrict-network-interfaces")
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "io", "blkio", "memory", "devices", "pids", *_CG_BPF)


def cgroup_unified() -> bool:
    """True if /sys/fs/cgroup is cgroup v2 only (systemd's ``cg_all_unified``)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _pid1_cgroup(controller: str | None) -> str:
    """PID 1's cgroup path for a v1 controller (or the v2 one), ``/init.scope`` dropped."""
    text = read_first("/proc/1/cgroup")
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        if (controller is None and ctrls == "") or (controller and controller in ctrls.split(",")):
            return path.removesuffix("/init.scope") or "/"
    return "/"


def check_control_group_controller(p: str, ctx: Context) -> Outcome:
    """``ConditionControlGroupController=``: ``v1``, ``v2``, or space-separated controllers that
    must all be available (systemd's model: cpuset and io exist on v2 only, blkio/cpuacct/devices
    on v1 only; unknown names are ignored by systemd and an error here)."""
    unified = cgroup_unified()
    detail: dict[str, object] = {"unified": unified}
    if p == "v2":
        return Outcome(unified, "cgroup v2" if unified else "cgroup v1/hybrid", detail)
    if p == "v1":
        return Outcome(not unified, "cgroup v2" if unified else "cgroup v1/hybrid", detail)
    words = p.split()
    unknown = [w for w in words if w not in CGROUP_CONTROLLERS]
    if unknown and not ctx.systemd_compat:
        raise syntax_error(
            f"unknown cgroup controller(s) {', '.join(unknown)}; known: v1, v2, "
            + ", ".join(CGROUP_CONTROLLERS),
            p,
        )
    wanted = [w for w in words if w in CGROUP_CONTROLLERS]
    if not wanted:
        return Outcome(True, "no known controller named (true like systemd)", detail)
    if unified:
        root = _pid1_cgroup(None)
        text = read_first(f"/sys/fs/cgroup{root.rstrip('/')}/cgroup.controllers") or read_first(
            "/sys/fs/cgroup/cgroup.controllers"
        )
        available = {c for c in text.split() if c in _CG_V2}
        if any(w in _CG_BPF for w in wanted) and not ctx.systemd_compat:
            raise NotSupportedHere(
                "bpf-* pseudo-controllers depend on PID 1's BPF probing; not answered here",
                type="ControlGroupController",
            )
    else:
        available = {c for c in _CG_V1 if os.path.exists(f"/sys/fs/cgroup/{c}")}
    missing = [w for w in wanted if w not in available]
    detail["available"] = sorted(available)
    return Outcome(
        not missing,
        f"available: {' '.join(sorted(available)) or 'none'}"
        + (f"; missing: {' '.join(missing)}" if missing else ""),
        detail,
    )


def physical_memory() -> int:
    """Bytes: physical memory, capped by PID 1's cgroup memory limit (systemd's
    ``physical_memory()``, v252)."""
    mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    ps = os.sysconf("SC_PAGE_SIZE")
    if cgroup_unified():
        raw = read_first(f"/sys/fs/cgroup{_pid1_cgroup(None).rstrip('/')}/memory.max")
    else:
        raw = read_first(f"/sys/fs/cgroup/memory{_pid1_cgroup('memory').rstrip('/')}/memory.limit_in_bytes")
    if raw.isdigit():
        lim = int(raw) // ps * ps
        return min(mem, lim)
    return mem


def _ordered(p: str, ctx: Context, what: str) -> tuple[str, str]:
    op, rest = parse_compare_operator(p, fnmatch=False, equal_by_string=False)
    return (op or "ge"), rest


def check_memory(p: str, ctx: Context) -> Outcome:
    """``ConditionMemory=``: ``[OP]SIZE`` (default ``>=``; 1024-based ``K M G T P E``) against
    physical memory capped by the cgroup limit."""
    op, rest = _ordered(p, ctx, "memory")
    try:
        want = parse_size(rest)
    except ValueError:
        raise syntax_error(f"ConditionMemory: {rest!r} is not a size (e.g. 4G, 512M, 1.5T)", p) from None
    m = physical_memory()
    return Outcome(
        test_order((m > want) - (m < want), op),
        f"memory is {m} bytes ({OP_TEXT[op]} {want} wanted)",
        {"memory_bytes": m, "wanted_bytes": want},
    )


def check_cpus(p: str, ctx: Context) -> Outcome:
    """``ConditionCPUs=``: ``[OP]N`` (default ``>=``) against the number of CPUs in this
    process's affinity mask (``sched_getaffinity``; systemd counts the manager's mask)."""
    op, rest = _ordered(p, ctx, "cpus")
    s = rest.lstrip(WS)
    if not s.isdigit():
        raise syntax_error(f"ConditionCPUs: {rest!r} is not a number", p)
    n = len(os.sched_getaffinity(0))
    want = int(s)
    return Outcome(
        test_order((n > want) - (n < want), op),
        f"{n} CPUs in the affinity mask",
        {"cpus": n, "wanted": want},
    )


def _slice_path(slice_: str) -> str:
    if slice_ == "-.slice":
        return ""
    if not slice_.endswith(".slice"):
        raise ValueError(slice_)
    parts = slice_[: -len(".slice")].split("-")
    return "/".join("-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def _check_psi(resource: str, p: str, ctx: Context) -> Outcome:
    """PSI: ``[SLICE:]PCT%[/10sec|/1min|/5min]`` (default 5min) ≤ current average.

    systemd 252 compares the ``some`` line for CPU and ``full`` for memory and io (verified on
    252.38); no PSI support = passes."""
    if not os.path.exists("/proc/pressure"):
        return Outcome(True, "PSI not supported by the kernel (passes like systemd)", {})
    first, sep, second = p.partition(":")
    if sep:
        slice_, value = first.strip(WS), second
    else:
        slice_, value = None, first
    pct, slash, span = value.partition("/")
    field_name = "avg300"
    if slash:
        span = span.lstrip(WS)
        for prefix, name in (("10sec", "avg10"), ("1min", "avg60"), ("5min", "avg300")):
            if span.startswith(prefix):
                field_name = name
                break
        else:
            raise syntax_error(f"PSI time span must be 10sec, 1min or 5min, got {span!r}", p)
    try:
        limit = parse_permyriad(pct.strip(WS))
    except ValueError:
        raise syntax_error(f"PSI threshold must be a percentage like 20% or 5.5%, got {pct!r}", p) from None
    if slice_ is not None:
        try:
            sp = _slice_path(slice_)
        except ValueError:
            raise syntax_error(f"{slice_!r} is not a slice name", p) from None
        if not cgroup_unified():
            if ctx.systemd_compat:
                return Outcome(True, "slice PSI needs cgroup v2 (passes like systemd)", {})
            raise NotSupportedHere(
                "PSI of a slice needs the unified cgroup hierarchy (systemd skips the check)",
                type=f"{resource}Pressure",
            )
        root = _pid1_cgroup(None).rstrip("/")
        path = f"/sys/fs/cgroup{root}/{sp}/{resource.lower()}.pressure".replace("//", "/")
        if not os.path.exists(path):
            if ctx.systemd_compat:
                return Outcome(True, f"{path} missing (passes like systemd)", {})
            raise NotSupportedHere(
                f"no cgroup for slice {slice_} ({path} missing)", type=f"{resource}Pressure"
            )
    else:
        path = f"/proc/pressure/{resource.lower()}"
    kind = "some" if resource == "CPU" else "full"
    text = read_text(path)
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln.strip()}
    line = lines.get(kind) or lines.get("some")
    if line is None:
        raise CheckError(f"no PSI data in {path}")
    values = dict(item.split("=", 1) for item in line.split()[1:])
    whole, _, frac = values[field_name].partition(".")
    current = int(whole) * 100 + int((frac or "0")[:2].ljust(2, "0"))
    return Outcome(
        current <= limit,
        f"{kind} {field_name}={values[field_name]}% (limit {limit / 100:g}%) in {path}",
        {"path": path, "line": kind, "window": field_name, "current": current / 100, "limit": limit / 100},
    )


def check_memory_pressure(p: str, ctx: Context) -> Outcome:
    """``ConditionMemoryPressure=``: see :func:`_check_psi`."""
    return _check_psi("Memory", p, ctx)


def check_cpu_pressure(p: str, ctx: Context) -> Outcome:
    """``ConditionCPUPressure=``: see :func:`_check_psi`."""
    return _check_psi("CPU", p, ctx)


def check_io_pressure(p: str, ctx: Context) -> Outcome:
    """``ConditionIOPressure=``: see :func:`_check_psi`."""
    return _check_psi("IO", p, ctx)
