"""Result types of CPU probing and the checks over them (pure, no I/O).

``CpuFeatures`` is one CPU, ``MachineFeatures`` a machine (live probe or capture), ``FeatureCheck``
the answer to "do these features hold?" with per-CPU detail. Unknown CPUs (offline, outside the
cpuset, unreadable) are ``None`` and stay unknown, never false (rule C2 in docs/design.md).

The types are immutable :class:`~config_reloader.record.Record` values (equality, hash,
``repr``, ``replace()``, pickling), not dataclasses: ``import dataclasses`` alone costs ~6 ms of
the ``condition`` command's start-up budget.
"""

from __future__ import annotations

from config_reloader.cpu import features as ft
from config_reloader.errors import UnknownFeatureError
from config_reloader.record import Record

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Literal

    from config_reloader.cpu import microarch

    View = Literal["cpu", "usable", "kernel"]
    Scope = Literal["all", "any", "current"]
else:

    def __getattr__(name: str) -> object:
        """``View``/``Scope`` at run time: built on first use (importing ``typing`` costs start-up)."""
        if name not in ("View", "Scope"):  # checked first: the import system probes __path__ etc.
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from typing import Literal

        aliases = {"View": Literal["cpu", "usable", "kernel"], "Scope": Literal["all", "any", "current"]}
        globals().update(aliases)
        return aliases[name]


__all__ = [
    "CpuFeatures",
    "FeatureCheck",
    "MachineFeatures",
    "Scope",
    "View",
    "check_features",
    "pin_set",
    "resolve_feature",
]

VIEWS: tuple[View, ...] = ("cpu", "usable", "kernel")


class CpuFeatures(Record):
    """Features of one CPU, in three views (canonical names).

    Attributes:
        cpu: logical CPU number (Linux numbering, or the capture's order).
        cpu_view: raw CPUID bits.
        usable: CPUID bit and, for XSAVE-state features, OSXSAVE and the XCR0 mask.
        kernel: /proc/cpuinfo flags mapped to canonical names (unknown tokens kept as printed),
            or ``None`` when the kernel view is not available (captures without flags, offline CPU).
        levels: psABI levels (``x86-64-v1`` .. ``x86-64-v4``) reached by ``usable``.
        leaves: raw registers read, ``(leaf, subleaf) -> (eax, ebx, ecx, edx)`` (empty if none).
        xcr0: XCR0 used for ``usable`` (``None`` = unknown), see ``xcr0_source``.
        xcr0_source: ``"xgetbv"``, ``"arch_prctl"``, ``"glibc-active"``, ``"assumed-leaf-0xd"``, ...
        core_type: hybrid core type from leaf 0x1A (``"core"``/``"atom"``) or ``None``.
    """

    _fields = ("cpu", "cpu_view", "usable", "kernel", "levels", "leaves", "xcr0", "xcr0_source", "core_type")
    _nocompare = frozenset({"leaves"})
    __slots__ = (
        "core_type",
        "cpu",
        "cpu_view",
        "kernel",
        "leaves",
        "levels",
        "usable",
        "xcr0",
        "xcr0_source",
    )
    __match_args__ = (
        "cpu",
        "cpu_view",
        "usable",
        "kernel",
        "levels",
        "leaves",
        "xcr0",
        "xcr0_source",
        "core_type",
    )
    cpu: int
    cpu_view: frozenset[str]
    usable: frozenset[str]
    kernel: frozenset[str] | None
    levels: frozenset[str]
    leaves: Mapping[tuple[int, int], tuple[int, int, int, int]]
    xcr0: int | None
    xcr0_source: str | None
    core_type: str | None

    def __init__(
        self,
        cpu: int,
        cpu_view: frozenset[str],
        usable: frozenset[str],
        kernel: frozenset[str] | None,
        levels: frozenset[str],
        leaves: Mapping[tuple[int, int], tuple[int, int, int, int]] | None = None,
        xcr0: int | None = None,
        xcr0_source: str | None = None,
        core_type: str | None = None,
    ) -> None:
        object.__setattr__(self, "cpu", cpu)
        object.__setattr__(self, "cpu_view", cpu_view)
        object.__setattr__(self, "usable", usable)
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "leaves", {} if leaves is None else leaves)
        object.__setattr__(self, "xcr0", xcr0)
        object.__setattr__(self, "xcr0_source", xcr0_source)
        object.__setattr__(self, "core_type", core_type)

    def view(self, view: View) -> frozenset[str] | None:
        """The names of one view (``None`` = that view is unknown for this CPU)."""
        if view == "cpu":
            return self.cpu_view
        if view == "usable":
            return self.usable
        if view == "kernel":
            return self.kernel
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")


class MachineFeatures(Record):
    """Features of every CPU of one machine.

    Attributes:
        arch: systemd's architecture name (``"x86-64"``, ``"arm64"``, ...).
        backend: which backend answered (``"cpuid-native"``, ``"cpuid-stub"``, ``"dev-cpu"``, ``"glibc"``,
            ``"proc-cpuinfo"``, ``"hwcaps"``, ``"capture:json"``, ``"capture:cpuid-r"``).
        cpus: CPU -> features, ``None`` = unknown.
        notes: human-readable caveats (assumptions, fallbacks taken).
        affinity: CPUs a service started from here may run on (checks and pin sets are limited to
            them); ``None`` = every CPU in ``cpus`` (captures).
        current_cpu: the CPU the probe ran on (scope ``"current"``), or ``None``.
        hostname: where the data comes from, if known.
    """

    _fields = ("arch", "backend", "cpus", "notes", "affinity", "current_cpu", "hostname")
    __slots__ = ("affinity", "arch", "backend", "cpus", "current_cpu", "hostname", "notes")
    __match_args__ = ("arch", "backend", "cpus", "notes", "affinity", "current_cpu", "hostname")
    arch: str
    backend: str
    cpus: Mapping[int, CpuFeatures | None]
    notes: tuple[str, ...]
    affinity: frozenset[int] | None
    current_cpu: int | None
    hostname: str | None

    def __init__(
        self,
        arch: str,
        backend: str,
        cpus: Mapping[int, CpuFeatures | None],
        notes: tuple[str, ...] = (),
        affinity: frozenset[int] | None = None,
        current_cpu: int | None = None,
        hostname: str | None = None,
    ) -> None:
        object.__setattr__(self, "arch", arch)
        object.__setattr__(self, "backend", backend)
        object.__setattr__(self, "cpus", cpus)
        object.__setattr__(self, "notes", notes)
        object.__setattr__(self, "affinity", affinity)
        object.__setattr__(self, "current_cpu", current_cpu)
        object.__setattr__(self, "hostname", hostname)

    def targets(self) -> list[int]:
        """CPUs that checks consider, sorted: ``affinity`` if set, else all of ``cpus``."""
        if self.affinity is None:
            return sorted(self.cpus)
        return sorted(self.affinity)


class FeatureCheck(Record):
    """Answer of :func:`check_features`.

    Attributes:
        result: ``True``/``False``, or ``None`` when unknown CPUs prevent an answer.
        per_cpu: every CPU of the machine -> holds on it (``None`` = unknown CPU).
        missing: CPU -> requested names (as given) that do not hold there (known CPUs only).
        unknown_cpus: CPUs in scope whose answer is unknown.
        view: the view used; scope: the scope used.
    """

    _fields = ("result", "per_cpu", "missing", "unknown_cpus", "view", "scope")
    __slots__ = ("missing", "per_cpu", "result", "scope", "unknown_cpus", "view")
    __match_args__ = ("result", "per_cpu", "missing", "unknown_cpus", "view", "scope")
    result: bool | None
    per_cpu: Mapping[int, bool | None]
    missing: Mapping[int, tuple[str, ...]]
    unknown_cpus: tuple[int, ...]
    view: str
    scope: str

    def __init__(
        self,
        result: bool | None,
        per_cpu: Mapping[int, bool | None],
        missing: Mapping[int, tuple[str, ...]],
        unknown_cpus: tuple[int, ...],
        view: str,
        scope: str,
    ) -> None:
        object.__setattr__(self, "result", result)
        object.__setattr__(self, "per_cpu", per_cpu)
        object.__setattr__(self, "missing", missing)
        object.__setattr__(self, "unknown_cpus", unknown_cpus)
        object.__setattr__(self, "view", view)
        object.__setattr__(self, "scope", scope)


def resolve_feature(name: str) -> str:
    """Canonical spelling of a feature name, keeping an ``ARCH.`` prefix if one was given.

    ``"PCLMUL"`` -> ``"pclmulqdq"``, ``"fma3"`` -> ``"fma"``, ``"x86-64.SHA"`` -> ``"x86-64.sha_ni"``,
    ``"x86-64-v3"`` -> ``"x86-64-v3"``, ``"arm64.sve"`` -> ``"arm64.sve"``. An unprefixed name is
    looked up in the x86 table, then in the arm64 hwcap table (``"sve"`` -> ``"sve"``), then in
    archspec's microarchitecture targets (``"skylake-avx512"`` -> ``"skylake_avx512"``,
    ``"znver4"`` -> ``"zen4"``): a target holds where every feature it requires holds.

    Raises:
        UnknownFeatureError: unknown name or unknown architecture prefix (with suggestions).
    """
    arch, rest = ft.split_arch_prefix(name)
    if arch is not None:
        try:
            return f"{arch}.{ft.canonical_name(rest, arch=_table(arch))}"
        except UnknownFeatureError as exc:
            target = _target_or_raise(rest, exc)
            return f"{arch}.{target.name}"
    try:
        return ft.canonical_name(rest)
    except UnknownFeatureError as x86_error:
        try:
            return ft.canonical_name(rest, arch="arm64")
        except UnknownFeatureError:
            return _target_or_raise(rest, x86_error).name


def _target_or_raise(name: str, feature_error: UnknownFeatureError) -> microarch.Target:
    """The microarchitecture target ``name`` spells; else ``feature_error`` with target names
    added to its suggestions. archspec is only read here, when a name is not a feature."""
    from config_reloader.cpu import microarch

    try:
        target = microarch.find_target(name)
    except microarch.MicroarchUnavailable as exc:
        raise UnknownFeatureError(
            f"{feature_error} (not a microarchitecture target either: {exc})",
            name=feature_error.name,
            suggestions=feature_error.suggestions,
        ) from None
    if target is None:
        close = [*feature_error.suggestions, *microarch.suggestions(name)][:3]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownFeatureError(
            f"unknown CPU feature or microarchitecture {feature_error.name!r}{hint}",
            name=feature_error.name,
            suggestions=close,
        ) from None
    if target.unchecked:
        raise UnknownFeatureError(
            f"microarchitecture {target.name} requires {', '.join(target.unchecked)}, which this "
            "build cannot check",
            name=feature_error.name,
        )
    return target


def _table(arch: str) -> str:
    return "arm64" if arch == "arm64" else "x86-64"


def _holds(feats: CpuFeatures, view: View, name: str, machine_arch: str) -> bool | None:
    """Does ``name`` hold on this CPU in ``view``? ``None`` = that view is unknown for this CPU.

    A prefix for another architecture, or a name that only exists in another architecture's
    table, is false (newest systemd semantics).
    """
    arch, rest = ft.split_arch_prefix(name)
    if arch is not None and arch != machine_arch:
        return False
    try:
        canon = ft.canonical_name(rest, arch=_table(machine_arch))
    except UnknownFeatureError:
        target = _find_target(rest)
        if target is None or target.arch != machine_arch:
            return False  # unknown here, or a target of another architecture
        names = feats.view(view)
        if names is None:
            return None
        return not target.missing(names, kernel_view=view == "kernel")
    names = feats.view(view)
    if names is None:
        return None
    if canon in ft.LEVELS:
        return canon in ft.levels_of(set(names), kernel_view=view == "kernel")
    return canon in names


def _find_target(name: str) -> microarch.Target | None:
    from config_reloader.cpu import microarch

    try:
        return microarch.find_target(name)
    except microarch.MicroarchUnavailable:
        return None


def check_features(
    machine: MachineFeatures, names: Sequence[str], *, view: View = "usable", scope: Scope = "all"
) -> FeatureCheck:
    """Check that every feature in ``names`` holds, per CPU and over ``scope``.

    ``scope``: ``"all"`` = on every CPU in ``machine.targets()`` (False if any known CPU lacks one,
    else None if any is unknown, else True); ``"any"`` = on at least one (True if any CPU has all,
    else None if any unknown, else False); ``"current"`` = on ``machine.current_cpu``.
    An ``ARCH.`` prefix that does not match ``machine.arch`` makes that name false (newest systemd).

    Raises:
        UnknownFeatureError: a name is unknown (checked before anything is evaluated).
        ValueError: bad view or scope.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    if scope not in ("all", "any", "current"):
        raise ValueError(f"scope must be all, any or current, not {scope!r}")
    for n in names:
        resolve_feature(n)  # unknown names fail before anything is evaluated
    per_cpu: dict[int, bool | None] = {}
    missing: dict[int, tuple[str, ...]] = {}
    for cpu in sorted(machine.cpus):
        feats = machine.cpus[cpu]
        if feats is None:
            per_cpu[cpu] = None
            continue
        answers = [(given, _holds(feats, view, given, machine.arch)) for given in names]
        if any(a is None for _, a in answers):
            per_cpu[cpu] = None
            continue
        lacking = tuple(given for given, a in answers if not a)
        per_cpu[cpu] = not lacking
        if lacking:
            missing[cpu] = lacking
    if scope == "current":
        cur = machine.current_cpu
        scoped = [cur] if cur is not None else []
    else:
        scoped = machine.targets()
    values = [per_cpu.get(c) for c in scoped]
    unknown = tuple(c for c, v in zip(scoped, values, strict=True) if v is None)
    result: bool | None
    if not scoped:
        result = None
    elif scope == "any":
        result = True if any(v is True for v in values) else (None if unknown else False)
    else:
        result = False if any(v is False for v in values) else (None if unknown else True)
    return FeatureCheck(
        result=result, per_cpu=per_cpu, missing=missing, unknown_cpus=unknown, view=view, scope=scope
    )


def pin_set(machine: MachineFeatures, names: Sequence[str], *, view: View = "usable") -> frozenset[int]:
    """CPUs (within ``machine.targets()``) where every feature in ``names`` holds in ``view``.

    Unknown CPUs are left out (we cannot promise them). Empty ``names`` = every known target CPU.

    Raises:
        UnknownFeatureError: a name is unknown.
    """
    check = check_features(machine, names, view=view, scope="all")
    return frozenset(c for c in machine.targets() if check.per_cpu.get(c) is True)
