"""``ConditionCPUFeature=``: CPU features on every CPU (default) or exactly like systemd 252.

A module of its own so that evaluating only CPU features does not import the other checks.
"""

from __future__ import annotations

from config_reloader.conditions.base import CheckError, Context, Outcome

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["check_cpu_feature"]


def check_cpu_feature(p: str, ctx: Context) -> Outcome:
    """``ConditionCPUFeature=``.

    Raises:
        UnknownFeatureError: unknown name (default mode).
        CheckError: the CPUs could not be probed, or a CPU in scope is unknown.

    Default: the name is resolved by ``config_reloader.cpu.resolve_feature`` (kernel tokens,
    systemd names, aliases, psABI levels; unknown → UnknownFeatureError) and checked in
    ``ctx.view`` on every CPU of the affinity mask (``ctx.cpus``: all / any / current). A CPU whose
    answer is unknown makes the result unknown, which fails (an error, whatever ``!`` says).

    ``--systemd-compat``: systemd 252 exactly: its 51-name table, raw CPUID on the current CPU,
    unknown names silently false (``config_reloader.cpu.systemd_has_feature``).
    """
    from config_reloader import cpu
    from config_reloader.errors import CpuidError

    if ctx.systemd_compat:
        try:
            v = cpu.systemd_has_feature(p.lower())
        except CpuidError as exc:
            raise CheckError(f"cannot execute CPUID: {exc}") from exc
        return Outcome(
            v, f"CPUID on this CPU {'has' if v else 'lacks or systemd does not know'} {p.lower()}", {}
        )
    if p != "".join(p.split()):
        from config_reloader.errors import ConditionSyntaxError

        words = p.split()
        hint = " ".join(f"ConditionCPUFeature={w}" for w in words) if len(words) > 1 else repr(p.strip())
        raise ConditionSyntaxError(
            f"one CPU feature per assignment, without spaces (systemd would look for {p!r} and "
            f"silently answer false); write {hint}",
            text=p,
        )
    name = cpu.resolve_feature(p)
    machine = ctx.machine
    if machine is None:
        machine = ctx.cache.get("machine")
        if machine is None:
            try:
                machine = cpu.probe_machine()
            except CpuidError as exc:  # no backend could read the CPUs: not the input's fault
                raise CheckError(f"cannot probe CPU features: {exc}") from exc
            ctx.cache["machine"] = machine
    scope: Any = ctx.cpus
    view: Any = ctx.view
    fc = cpu.check_features(machine, [name], view=view, scope=scope)
    if fc.scope == "current":
        all_cpus = [machine.current_cpu] if machine.current_cpu is not None else []
    else:
        all_cpus = sorted(machine.targets())
    missing = [c for c in all_cpus if fc.per_cpu.get(c) is False]
    unknown = sorted(fc.unknown_cpus)
    have = [c for c in all_cpus if fc.per_cpu.get(c)]
    detail: dict[str, object] = {
        "feature": name,
        "view": fc.view,
        "scope": fc.scope,
        "backend": machine.backend,
        "cpus": cpu.format_cpulist(all_cpus),
        "missing_on": cpu.format_cpulist(missing),
        "unknown_on": cpu.format_cpulist(unknown),
        "present_on": cpu.format_cpulist(have),
    }
    label = name if name == p else f"{name} (given as {p})"
    if fc.result is None:
        raise CheckError(
            f"{label}: unknown on CPUs {cpu.format_cpulist(unknown)} (offline, outside the cpuset or "
            f"unreadable) in the {fc.view} view; with --cpus {fc.scope} an unknown CPU does not pass"
        )
    if fc.result:
        where = {"all": "all CPUs", "any": "at least one CPU", "current": "the current CPU"}.get(
            fc.scope, fc.scope
        )
        return Outcome(True, f"{label} {fc.view} on {where} ({cpu.format_cpulist(have)})", detail)
    where = cpu.format_cpulist(missing) or cpu.format_cpulist(all_cpus)
    hint = _target_lacks(machine, name, missing, fc.view)
    if have:  # a heterogeneous machine: say where it would run
        hint += f"; {fc.view} on CPUs {cpu.format_cpulist(have)} (pin there: run --pin-cpus, or taskset)"
    return Outcome(False, f"{label} not {fc.view} on CPUs {where}{hint}", detail)


def _target_lacks(machine: Any, name: str, cpus: list[int], view: Any) -> str:
    """For a microarchitecture target: ``" (lacks a, b on CPU n)"`` or ``" (an arm64 target)"``."""
    from config_reloader.cpu import microarch

    try:
        target = microarch.table().get(name.rpartition(".")[2])
    except microarch.MicroarchUnavailable:
        return ""
    if target is None:
        return ""
    if target.arch != machine.arch:
        return f" (an {target.arch} target; the CPUs are {machine.arch})"
    feats = machine.cpus.get(cpus[0]) if cpus else None
    have = feats.view(view) if feats is not None else None
    if have is None:
        return ""
    lacking = target.missing(have, kernel_view=view == "kernel")
    return f" (CPU {cpus[0]} lacks {', '.join(lacking)})"
