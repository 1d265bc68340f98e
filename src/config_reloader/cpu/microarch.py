"""Microarchitecture targets (``skylake_avx512``, ``zen4``, ``neoverse_v1``) from archspec's table.

The table is archspec's ``microarchitectures.json`` (PyPI ``archspec``, the Spack project's
library): each target's vendor, parents and the features it requires (``/proc/cpuinfo`` names),
plus the compiler spellings (``-march=skylake-avx512``, ``-march=znver4``, ``-mcpu=neoverse-v1``).
Only the data file is read: ``import archspec.cpu`` costs ~30 ms and ~5 MiB RSS (it imports
``platform``, ``subprocess`` and its own CPUID code) and its host detection reads the first
``/proc/cpuinfo`` entry only; here the features are checked on every CPU in the usable view.

A target holds on a CPU when every feature it and its ancestors require holds there; an
ancestor that is a psABI level (``x86_64_v4``) adds that level's features as this project
defines them (with OSXSAVE: XSAVE alone does not make AVX usable). archspec's generic
``x86_64_vN`` targets are the psABI levels themselves (``x86-64-vN``). archspec's generic arm
targets (``armv8.2a`` ...) list no features, so they cannot be checked from HWCAPs and are not
offered as answers (archspec itself never detects them either).
"""

from __future__ import annotations

from config_reloader.cpu import features as ft
from config_reloader.cpu._record import Record
from config_reloader.errors import CpuidError, UnknownFeatureError

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from config_reloader.cpu.model import MachineFeatures, View

__all__ = [
    "CpuTargets",
    "MicroarchUnavailable",
    "Target",
    "arm_vendor",
    "best_targets",
    "find_target",
    "load_table",
    "normalize",
    "per_cpu",
    "suggestions",
    "table",
    "vendor_of",
]

#: archspec family -> systemd's architecture name (ConditionArchitecture=)
_FAMILY_ARCH = {
    "x86_64": "x86-64",
    "aarch64": "arm64",
    "x86": "x86",
    "ppc64le": "ppc64-le",
    "ppc64": "ppc64",
    "ppcle": "ppc-le",
    "ppc": "ppc",
    "riscv64": "riscv64",
    "sparc64": "sparc64",
    "sparc": "sparc",
    "arm": "arm",
}
#: HWCAPs archspec lists that say nothing about the instructions a -mcpu build may use:
#: evtstrm is the kernel's timer event stream (qemu-user never reports it)
_NOT_ISA = frozenset({"evtstrm"})
#: compilers whose target spellings are accepted as aliases (GCC's -march/-mcpu names first)
_ALIAS_COMPILERS = ("gcc", "clang")


class MicroarchUnavailable(CpuidError):
    """archspec (its ``microarchitectures.json``) is not installed or not readable."""


class Target(Record):
    """One microarchitecture target.

    Attributes:
        name: archspec's name (``"skylake_avx512"``).
        arch: systemd's architecture name of its family (``"x86-64"``, ``"arm64"``, ``"ppc64-le"``).
        vendor: ``"GenuineIntel"``, ``"AuthenticAMD"``, ``"ARM"``, ... or ``"generic"``.
        parents: direct parents (archspec ``from``).
        ancestors: every ancestor, nearest first.
        features: canonical names required (its own and its ancestors', psABI levels expanded).
        unchecked: required names this project's tables do not know (the target cannot be
            checked while this is non-empty).
        level: the psABI level it implies (``"x86-64-v4"``) or ``None``.
        aliases: compiler spellings (``"skylake-avx512"``, ``"znver4"``, ``"neoverse-v1"``).
    """

    _fields = ("name", "arch", "vendor", "parents", "ancestors", "features", "unchecked", "level", "aliases")
    __slots__ = (
        "aliases",
        "ancestors",
        "arch",
        "features",
        "level",
        "name",
        "parents",
        "unchecked",
        "vendor",
    )
    name: str
    arch: str
    vendor: str
    parents: tuple[str, ...]
    ancestors: tuple[str, ...]
    features: frozenset[str]
    unchecked: tuple[str, ...]
    level: str | None
    aliases: tuple[str, ...]

    def __init__(
        self,
        name: str,
        arch: str,
        vendor: str,
        parents: tuple[str, ...],
        ancestors: tuple[str, ...],
        features: frozenset[str],
        unchecked: tuple[str, ...] = (),
        level: str | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None:
        s = object.__setattr__
        s(self, "name", name)
        s(self, "arch", arch)
        s(self, "vendor", vendor)
        s(self, "parents", parents)
        s(self, "ancestors", ancestors)
        s(self, "features", features)
        s(self, "unchecked", unchecked)
        s(self, "level", level)
        s(self, "aliases", aliases)

    @property
    def depth(self) -> int:
        """Number of ancestors: archspec's measure of how specific a target is."""
        return len(self.ancestors)

    def missing(self, names: frozenset[str], *, kernel_view: bool = False) -> tuple[str, ...]:
        """Required names not in ``names`` (one view of one CPU), sorted. The kernel never prints
        ``osxsave``, so it is not required in the kernel view (as for the psABI levels)."""
        need = self.features - {"osxsave"} if kernel_view else self.features
        return tuple(sorted(need - names))


def normalize(name: str) -> str:
    """Lookup key of a target spelling: lower case, ``-``/``_`` dropped
    (``"Skylake-AVX512"`` and ``"skylake_avx512"`` -> ``"skylakeavx512"``, ``armv8.2-a`` -> ``armv8.2a``)."""
    return name.strip().lower().replace("-", "").replace("_", "")


def _data_path() -> str:
    """Path of archspec's ``microarchitectures.json``, found without importing archspec."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("archspec")
    if spec is None or not spec.submodule_search_locations:
        raise MicroarchUnavailable(
            "microarchitecture names need the Python package archspec (pip install archspec)"
        )
    return os.path.join(next(iter(spec.submodule_search_locations)), "json", "cpu", "microarchitectures.json")


def load_table(doc: Mapping[str, Any]) -> dict[str, Target]:
    """Build the targets from archspec's document (``{"microarchitectures": {...}, ...}``).

    Raises:
        MicroarchUnavailable: the document does not have archspec's shape.
    """
    raw = doc.get("microarchitectures") if isinstance(doc, dict) else None
    if not isinstance(raw, dict) or not raw:
        raise MicroarchUnavailable("archspec's microarchitectures.json has no 'microarchitectures' table")

    anc_memo: dict[str, list[str]] = {}

    def ancestors(name: str, seen: tuple[str, ...] = ()) -> list[str]:
        if name in anc_memo:
            return anc_memo[name]
        out: list[str] = []
        for p in raw[name].get("from") or ():
            if p in raw and p not in seen and p not in out:
                out.append(p)
                out.extend(a for a in ancestors(p, (*seen, name)) if a not in out)
        anc_memo[name] = out
        return out

    def family(name: str) -> str:
        return next((a for a in (name, *ancestors(name)) if not raw[a].get("from")), name)

    own_memo: dict[str, tuple[set[str], list[str]]] = {}

    def own(name: str, arch: str) -> tuple[set[str], list[str]]:
        """(canonical names, names our tables do not know) of the features ``name`` itself lists."""
        if name not in own_memo:
            canon_set: set[str] = set()
            unknown: list[str] = []
            for f in raw[name].get("features") or ():
                if f in _NOT_ISA:
                    continue
                canon = _canonical(f, arch)
                if canon is not None:
                    canon_set.add(canon)
                elif arch in ("x86-64", "arm64"):
                    unknown.append(f)
                else:
                    canon_set.add(f)  # another architecture: kept as archspec spells it
            own_memo[name] = (canon_set, unknown)
        return own_memo[name]

    targets: dict[str, Target] = {}
    for name, entry in raw.items():
        arch = _FAMILY_ARCH.get(family(name), family(name))
        anc = ancestors(name)
        levels = [lv for a in (name, *anc) if (lv := _level_of(a))]
        level = max(levels) if levels else None  # "x86-64-v4" > "x86-64-v3": same-length names
        feats: set[str] = set(ft.LEVELS[level]) if level else set()
        unchecked: list[str] = []
        for member in (name, *anc):
            canon_set, unknown = own(member, arch)
            feats |= canon_set
            unchecked.extend(u for u in unknown if u not in unchecked)
        targets[name] = Target(
            name=name,
            arch=arch,
            vendor=str(entry.get("vendor", "generic")),
            parents=tuple(entry.get("from") or ()),
            ancestors=tuple(anc),
            features=frozenset(feats),
            unchecked=tuple(unchecked),
            level=level,
            aliases=tuple(_spellings(name, entry)),
        )
    return targets


def _level_of(name: str) -> str | None:
    """archspec's generic ``x86_64_v3`` is the psABI level ``x86-64-v3``."""
    level = name.replace("_", "-")
    return level if level in ft.LEVELS else None


def _canonical(name: str, arch: str) -> str | None:
    if arch not in ("x86-64", "arm64"):
        return None
    try:
        return ft.canonical_name(name, arch=arch)
    except UnknownFeatureError:
        return None


def _spellings(name: str, entry: Mapping[str, Any]) -> list[str]:
    """Compiler spellings of a target: the ``name`` of each GCC/Clang entry (``{name}`` in its
    flags) and the values of ``-march=``/``-mcpu=`` flags that name a CPU (not ``armv8.2-a+...``)."""
    out: list[str] = []
    for comp in _ALIAS_COMPILERS:
        for e in (entry.get("compilers") or {}).get(comp) or ():
            cands = [str(e["name"])] if "name" in e else []
            for tok in str(e.get("flags", "")).split():
                opt, _, value = tok.partition("=")
                if opt in ("-march", "-mcpu") and value and "{" not in value and "+" not in value:
                    cands.append(value)
            out.extend(c for c in cands if c != name and c not in out)
    return out


_TABLE: dict[str, Target] | None = None
_INDEX: dict[str, str] | None = None


def table() -> Mapping[str, Target]:
    """Every target, by archspec name (read once per process; ~1 ms).

    Raises:
        MicroarchUnavailable: archspec is not installed or its data file is unreadable.
    """
    global _TABLE
    if _TABLE is None:
        import json

        path = _data_path()
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as exc:
            raise MicroarchUnavailable(f"cannot read archspec's table {path}: {exc}") from exc
        _TABLE = load_table(doc)
    return _TABLE


def _index() -> dict[str, str]:
    """Normalised spelling -> target name. A target's own name always wins; a compiler spelling
    that two targets share (``core-avx2``, the old ``-march=x86-64`` of ``x86_64_v3``) is dropped."""
    global _INDEX
    if _INDEX is None:
        targets = table()
        own = {normalize(n): n for n in targets}
        seen: dict[str, set[str]] = {}
        for t in targets.values():
            for a in t.aliases:
                seen.setdefault(normalize(a), set()).add(t.name)
        _INDEX = {k: next(iter(v)) for k, v in seen.items() if len(v) == 1 and k not in own}
        _INDEX.update(own)
    return _INDEX


def find_target(name: str) -> Target | None:
    """The target ``name`` spells (archspec name or a GCC/Clang spelling, any case, ``-``/``_``
    interchangeable), or ``None``.

    Raises:
        MicroarchUnavailable: archspec is not installed.
    """
    key = _index().get(normalize(name))
    return table()[key] if key is not None else None


def suggestions(name: str, n: int = 3) -> list[str]:
    """Up to ``n`` target names close to ``name`` (empty if archspec is missing)."""
    import difflib

    try:
        index = _index()
    except MicroarchUnavailable:
        return []
    keys = difflib.get_close_matches(normalize(name), list(index), n=n * 2, cutoff=0.6)
    out: list[str] = []
    for k in keys:
        if index[k] not in out:
            out.append(index[k])
    return out[:n]


def vendor_of(leaves: Mapping[tuple[int, int], tuple[int, int, int, int]]) -> str | None:
    """CPUID vendor string (leaf 0 EBX, EDX, ECX), e.g. ``"GenuineIntel"``; ``None`` without leaf 0."""
    regs = leaves.get((0, 0))
    if regs is None:
        return None
    raw = b"".join(r.to_bytes(4, "little") for r in (regs[1], regs[3], regs[2]))
    return raw.decode("ascii", "replace").strip("\0 ") or None


def best_targets(
    names: frozenset[str], arch: str, vendor: str | None, *, kernel_view: bool = False
) -> tuple[Target | None, Target | None]:
    """``(best vendor target, best generic target)`` whose requirements ``names`` meets.

    The vendor target is the deepest (most ancestors, then most features) target of ``vendor``;
    ``None`` when ``vendor`` is unknown or none fits. Generic targets are archspec's generic ones
    of this architecture that list features (the psABI levels on x86-64), and the root
    (``x86_64``, ``aarch64``) otherwise.
    """
    vendor_best: Target | None = None
    generic_best: Target | None = None
    for t in table().values():
        if t.arch != arch or t.unchecked or t.missing(names, kernel_view=kernel_view):
            continue
        if t.vendor == "generic":
            if not t.features and t.ancestors:
                continue  # armv8.2a etc.: no features listed, nothing to check
            if generic_best is None or _rank(t) > _rank(generic_best):
                generic_best = t
        elif t.vendor == vendor and (vendor_best is None or _rank(t) > _rank(vendor_best)):
            vendor_best = t
    return vendor_best, generic_best


def _rank(t: Target) -> tuple[int, int, str]:
    return (t.depth, len(t.features), t.name)


def arm_vendor(cpu: int, sys_root: str = "/sys") -> str | None:
    """archspec's vendor name of an arm64 CPU from its MIDR_EL1 implementer byte (sysfs), or
    ``None`` when sysfs does not say (not arm64 hardware, or qemu-user: sysfs is the host's)."""
    path = f"{sys_root}/devices/system/cpu/cpu{cpu}/regs/identification/midr_el1"
    try:
        with open(path, encoding="ascii") as fh:
            midr = int(fh.read().strip(), 16)
    except (OSError, ValueError):
        return None
    code = f"0x{(midr >> 24) & 0xFF:02x}"
    import json

    try:
        with open(_data_path(), encoding="utf-8") as fh:
            vendors = json.load(fh).get("conversions", {}).get("arm_vendors", {})
    except (OSError, ValueError):
        return None
    return str(vendors[code]) if code in vendors else None


class CpuTargets(Record):
    """The answer of :func:`per_cpu` for one CPU.

    Attributes:
        cpu: CPU number. vendor: vendor string or ``None``. best: the deepest target of that vendor
        whose requirements hold, or ``None``. generic: the best generic target (psABI level on x86-64).
    """

    _fields = ("cpu", "vendor", "best", "generic")
    __slots__ = ("best", "cpu", "generic", "vendor")
    cpu: int
    vendor: str | None
    best: str | None
    generic: str | None

    def __init__(self, cpu: int, vendor: str | None, best: str | None, generic: str | None) -> None:
        object.__setattr__(self, "cpu", cpu)
        object.__setattr__(self, "vendor", vendor)
        object.__setattr__(self, "best", best)
        object.__setattr__(self, "generic", generic)


def per_cpu(
    machine: MachineFeatures, *, view: View = "usable", vendors: Mapping[int, str | None] | None = None
) -> dict[int, CpuTargets | None]:
    """Best targets of every CPU of ``machine`` in ``view`` (``None`` = unknown CPU or view).

    The vendor comes from CPUID leaf 0 (x86) or from ``vendors`` (arm64: :func:`arm_vendor`).

    Raises:
        MicroarchUnavailable: archspec is not installed.
    """
    out: dict[int, CpuTargets | None] = {}
    for cpu, feats in sorted(machine.cpus.items()):
        names = feats.view(view) if feats is not None else None
        if feats is None or names is None:
            out[cpu] = None
            continue
        vendor = vendor_of(feats.leaves) if feats.leaves else None
        if vendor is None and vendors is not None:
            vendor = vendors.get(cpu)
        best, generic = best_targets(names, machine.arch, vendor, kernel_view=view == "kernel")
        out[cpu] = CpuTargets(cpu, vendor, best.name if best else None, generic.name if generic else None)
    return out
