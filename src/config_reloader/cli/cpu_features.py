"""``config-reloader cpu-features``: CPU features by CPU, in the cpu/usable/kernel views.

Module-level imports are stdlib-only and light; the engine (and ctypes) is imported in ``run``.
Exit statuses: 0 success; 1 ``--pin-set`` is empty or probing failed; 2 bad input (unknown feature
name, unreadable or malformed ``--cpu-data``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config_reloader.cpu.model import MachineFeatures

__all__ = ["register", "run"]

_VIEWS = ("cpu", "usable", "kernel")


def register(subparsers: Any) -> None:
    """Add the ``cpu-features`` parser."""
    p = subparsers.add_parser(
        "cpu-features",
        help="show CPU features of every CPU (cpu/usable/kernel views), psABI levels, pin sets",
        description=(
            "Show CPU features of every CPU this process may run on, in three views: cpu (raw "
            "CPUID bit), usable (CPUID bit and the OS enabled its register state in XCR0) and kernel "
            "(/proc/cpuinfo flag). Names are case-insensitive; kernel tokens, systemd's names "
            "(pclmul, fma3, osxsave), aliases, psABI levels (x86-64-v3) and ARCH. prefixes work."
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="features to show (default: all present)")
    p.add_argument("--per-cpu", action="store_true", help="one column per CPU (for --view, default usable)")
    p.add_argument(
        "--view",
        choices=(*_VIEWS, "all"),
        default=None,
        help="view(s) to show (default: all in the summary, usable with --per-cpu/--pin-set)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--pin-set",
        nargs="+",
        metavar="NAME",
        default=None,
        help="print only the cpulist where all NAMEs hold (exit 1 if empty); a NAME may be a "
        "microarchitecture target (skylake_avx512, znver4, neoverse-v1): all its features",
    )
    p.add_argument(
        "--microarch",
        action="store_true",
        help="name, per CPU, the best microarchitecture target (archspec's table: skylake_avx512, "
        "zen4, neoverse_v1) and the best generic one (x86_64_v3) whose features hold (--view, "
        "default usable)",
    )
    p.add_argument(
        "--dump",
        metavar="FILE",
        default=None,
        help="write the JSON capture of this machine to FILE ('-' = stdout)",
    )
    p.add_argument(
        "--cpu-data",
        metavar="FILE",
        default=None,
        help="read a capture (our JSON or `cpuid -r` output; '-' = stdin) instead of probing",
    )
    p.add_argument(
        "--backend",
        default=None,
        help="force a backend: cpuid-native, cpuid-stub, dev-cpu, glibc, proc-cpuinfo (default: automatic)",
    )
    p.set_defaults(func=run)


def _err(msg: str) -> None:
    print(f"config-reloader cpu-features: {msg}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit status."""
    try:
        return _run(args)
    except BrokenPipeError:  # `cpu-features | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    from config_reloader.cpu import model, probe
    from config_reloader.cpu.topology import format_cpulist
    from config_reloader.errors import BackendUnavailable, CpuidError, UnknownFeatureError

    try:
        if args.cpu_data:
            from config_reloader.cpu import capture

            machine = capture.load_capture(args.cpu_data)
        else:
            machine = probe.probe_machine(backend=args.backend)
    except BackendUnavailable as exc:
        _err(f"no CPU data: {exc}")
        return 1
    except (CpuidError, ValueError) as exc:
        _err(str(exc))
        return 2

    if args.dump:
        from config_reloader.cpu import capture

        text = capture.dump_capture(machine)
        if args.dump == "-":
            sys.stdout.write(text)
        else:
            from config_reloader.atomic import atomic_write
            from config_reloader.errors import AtomicWriteError

            try:
                atomic_write(args.dump, text.encode())
            except (AtomicWriteError, OSError) as exc:  # a bad --dump path, as a bad --cpu-data: 2
                _err(f"cannot write CPU capture: {exc}")
                return 2
        return 0

    if args.microarch:
        return _print_microarch(machine, args.view if args.view in _VIEWS else "usable", args.json)
    try:
        if args.pin_set is not None:
            view: Any = args.view if args.view in _VIEWS else "usable"
            cpus = model.pin_set(machine, args.pin_set, view=view)
            if args.json:
                print(
                    _json(
                        {
                            "pin_set": format_cpulist(cpus),
                            "cpus": sorted(cpus),
                            "view": view,
                            "names": [model.resolve_feature(n) for n in args.pin_set],
                        }
                    )
                )
            elif cpus:  # an empty set prints nothing, not an empty line (docs: stdout stays empty)
                print(format_cpulist(cpus))
            if not cpus:
                _err(f"no CPU has all of {', '.join(args.pin_set)} in the {view} view")
                for line in _why_not(machine, args.pin_set, view):
                    _err(line)
                return 1
            return 0
        names = [model.resolve_feature(n) for n in args.names]
    except UnknownFeatureError as exc:
        _err(str(exc))
        return 2
    if not names:
        names = _present_names(machine)
    if args.json:
        print(_json(_report(machine, names)))
    elif args.per_cpu:
        view = args.view if args.view in _VIEWS else "usable"
        _print_per_cpu(machine, names, view)
    else:
        views = _VIEWS if args.view in (None, "all") else (args.view,)
        _print_summary(machine, names, views)
    return 0


def _json(doc: object) -> str:
    import json

    return json.dumps(doc, indent=1, sort_keys=False)


def _present_names(machine: MachineFeatures) -> list[str]:
    """Every table name set in any view on any CPU, in table order, then the psABI levels."""
    from config_reloader.cpu import features as ft

    seen: set[str] = set()
    for f in machine.cpus.values():
        if f is not None:
            seen |= f.cpu_view | f.usable | (f.kernel or frozenset())
    if machine.arch == "arm64":
        return sorted(seen)
    order = [f.name for f in ft.X86_FEATURES if f.name in seen]
    return order + list(ft.LEVELS)


def _per_cpu(machine: MachineFeatures, name: str, view: str) -> dict[int, bool | None]:
    from config_reloader.cpu import model

    return dict(model.check_features(machine, [name], view=view, scope="all").per_cpu)  # type: ignore[arg-type]


def _cell(per_cpu: dict[int, bool | None]) -> str:
    from config_reloader.cpu.topology import format_cpulist

    yes = [c for c, v in per_cpu.items() if v is True]
    no = [c for c, v in per_cpu.items() if v is False]
    unk = [c for c, v in per_cpu.items() if v is None]
    if not per_cpu:
        return "-"
    if not unk and not no:
        return "yes"
    if not unk and not yes:
        return "no"
    if not yes and not no:
        return "unknown"
    parts = []
    if yes:
        parts.append(f"yes:{format_cpulist(yes)}")
    if no:
        parts.append(f"no:{format_cpulist(no)}")
    if unk:
        parts.append(f"unknown:{format_cpulist(unk)}")
    return " ".join(parts)


def _header(machine: MachineFeatures) -> list[str]:
    from config_reloader.cpu.topology import format_cpulist

    known = [c for c, f in machine.cpus.items() if f is not None]
    unknown = [c for c, f in machine.cpus.items() if f is None]
    lines = [
        f"arch: {machine.arch}   backend: {machine.backend}"
        + (f"   host: {machine.hostname}" if machine.hostname else "")
    ]
    cpus = f"cpus: {format_cpulist(known)}"
    if unknown:
        cpus += f"   unknown: {format_cpulist(unknown)}"
    if machine.affinity is not None:
        cpus += f"   affinity: {format_cpulist(machine.affinity)}"
    lines.append(cpus)
    kinds: dict[str, list[int]] = {}
    for c, f in machine.cpus.items():
        if f is not None and f.core_type:
            kinds.setdefault(f.core_type, []).append(c)
    if kinds:
        lines.append("core types: " + "  ".join(f"{k}:{format_cpulist(v)}" for k, v in sorted(kinds.items())))
    groups = _cpuid_kinds(machine)
    if len(groups) > 1:
        lines.append(
            f"CPUID differs between CPUs (APIC/topology fields masked): {len(groups)} kinds: "
            + "  ".join(format_cpulist(g) for g in groups)
        )
    levels: dict[str, list[int]] = {}
    for c, f in machine.cpus.items():
        if f is not None:
            top = max(f.levels) if f.levels else "none"
            levels.setdefault(top, []).append(c)
    lines.append(
        "psABI level (usable): "
        + "  ".join(f"{lvl} on {format_cpulist(v)}" for lvl, v in sorted(levels.items()))
    )
    lines.extend(f"note: {n}" for n in machine.notes)
    return lines


def _cpuid_kinds(machine: MachineFeatures) -> list[list[int]]:
    """Groups of CPUs whose raw CPUID leaves are equal once per-CPU identity fields are masked."""
    from config_reloader.cpu.topology import masked_leaves

    groups: dict[tuple[object, ...], list[int]] = {}
    for c, f in sorted(machine.cpus.items()):
        if f is not None and f.leaves:
            key = tuple(sorted(masked_leaves(f.leaves).items()))
            groups.setdefault(key, []).append(c)
    return sorted(groups.values())


def _print_summary(machine: MachineFeatures, names: list[str], views: tuple[str, ...]) -> None:
    rows = [[n, *(_cell(_per_cpu(machine, n, v)) for v in views)] for n in names]
    print("\n".join(_header(machine)))
    print()
    _table(["feature", *views], rows)


def _print_per_cpu(machine: MachineFeatures, names: list[str], view: str) -> None:
    cpus = sorted(machine.cpus)
    rows = []
    for n in names:
        pc = _per_cpu(machine, n, view)
        rows.append([n, *("y" if pc.get(c) else ("?" if pc.get(c) is None else "-") for c in cpus)])
    print("\n".join(_header(machine)))
    print(f"view: {view}   (y = yes, - = no, ? = unknown)")
    print()
    _table(["feature", *(str(c) for c in cpus)], rows)


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _report(machine: MachineFeatures, names: list[str]) -> dict[str, Any]:
    from config_reloader.cpu import capture

    cpus: dict[str, Any] = {}
    for c, f in sorted(machine.cpus.items()):
        cpus[str(c)] = (
            None
            if f is None
            else {
                "cpu": sorted(f.cpu_view),
                "usable": sorted(f.usable),
                "kernel": sorted(f.kernel) if f.kernel is not None else None,
                "levels": sorted(f.levels),
                "xcr0": hex(f.xcr0) if f.xcr0 is not None else None,
                "xcr0_source": f.xcr0_source,
                "core_type": f.core_type,
            }
        )
    feats: dict[str, Any] = {}
    for n in names:
        feats[n] = {}
        for v in _VIEWS:
            pc = _per_cpu(machine, n, v)
            known = [x for x in pc.values() if x is not None]
            unknown = len(known) < len(pc)
            feats[n][v] = {
                "all": (False if False in known else (None if unknown else True)),
                "per_cpu": {str(c): x for c, x in pc.items()},
            }
    return {
        **capture._machine_fields(machine),
        "cpus": cpus,
        "features": feats,
    }


def _why_not(machine: MachineFeatures, names: list[str], view: Any) -> list[str]:
    """For each microarchitecture target among ``names``: why it holds nowhere."""
    from config_reloader.cpu import microarch, model
    from config_reloader.cpu.topology import format_cpulist

    lines = []
    for n in names:
        canon = model.resolve_feature(n).rpartition(".")[2]
        try:
            target = microarch.table().get(canon)
        except microarch.MicroarchUnavailable:
            return []
        if target is None:
            continue
        if target.arch != machine.arch:
            lines.append(f"{target.name} is an {target.arch} target; the CPUs are {machine.arch}")
            continue
        by_missing: dict[tuple[str, ...], list[int]] = {}
        for c in machine.targets():
            f = machine.cpus.get(c)
            have = f.view(view) if f is not None else None
            if have is not None:
                by_missing.setdefault(target.missing(have, kernel_view=view == "kernel"), []).append(c)
        for miss, cpus in sorted(by_missing.items(), key=lambda kv: kv[1]):
            lines.append(f"{target.name} needs on CPUs {format_cpulist(cpus)}: {', '.join(miss)}")
    return lines


def _print_microarch(machine: MachineFeatures, view: Any, as_json: bool) -> int:
    """``--microarch``: per CPU, the best vendor target and generic target (archspec's table)."""
    from config_reloader.cpu import microarch
    from config_reloader.cpu.topology import format_cpulist

    vendors = None
    if machine.arch == "arm64" and machine.backend == "hwcaps":
        vendors = {c: microarch.arm_vendor(c) for c in machine.cpus}
    try:
        rows = microarch.per_cpu(machine, view=view, vendors=vendors)
    except microarch.MicroarchUnavailable as exc:
        _err(str(exc))
        return 1
    if as_json:
        doc = {
            "view": view,
            "arch": machine.arch,
            "backend": machine.backend,
            "cpus": {
                str(c): None if r is None else {"vendor": r.vendor, "best": r.best, "generic": r.generic}
                for c, r in rows.items()
            },
        }
        print(_json(doc))
        return 0
    groups: dict[tuple[str, str, str], list[int]] = {}
    for c, r in rows.items():
        key = ("?", "unknown", "unknown") if r is None else (r.vendor or "?", r.best or "-", r.generic or "-")
        groups.setdefault(key, []).append(c)
    print("\n".join(_header(machine)))
    print(f"view: {view}   (targets: archspec's microarchitectures table; - = none fits)")
    print()
    _table(
        ["cpus", "vendor", "best target", "generic"],
        [[format_cpulist(cpus), *key] for key, cpus in sorted(groups.items(), key=lambda kv: kv[1])],
    )
    return 0
