"""The vocabulary of conditions: which ``Condition<Type>=``/``Assert<Type>=`` exist, which take a
path, how a setting name splits into kind and type (case-sensitive, like systemd), and the
parsed :class:`Condition` value.

Source: systemd src/shared/condition.c and condition.h (type tables, v252 and v261) and
src/core/load-fragment-gperf.gperf.in (which types go through the path parser).
"""

from __future__ import annotations

from config_reloader.errors import UnknownConditionError
from config_reloader.record import Record

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["Condition", "Assert"]

__all__ = ["PATH_TYPES", "TYPES", "TYPES_252", "TYPES_NEWER", "Condition", "split_name"]

#: Every condition type systemd 252 accepts (src/shared/condition.c, v252), without the
#: ``Condition``/``Assert`` prefix.
TYPES_252: tuple[str, ...] = (
    "Architecture",
    "Firmware",
    "Virtualization",
    "Host",
    "KernelCommandLine",
    "KernelVersion",
    "Credential",
    "Security",
    "Capability",
    "ACPower",
    "NeedsUpdate",
    "FirstBoot",
    "PathExists",
    "PathExistsGlob",
    "PathIsDirectory",
    "PathIsSymbolicLink",
    "PathIsMountPoint",
    "PathIsReadWrite",
    "PathIsEncrypted",
    "DirectoryNotEmpty",
    "FileNotEmpty",
    "FileIsExecutable",
    "User",
    "Group",
    "ControlGroupController",
    "CPUs",
    "Memory",
    "Environment",
    "CPUFeature",
    "OSRelease",
    "MemoryPressure",
    "CPUPressure",
    "IOPressure",
)

#: The types systemd added after 252, up to 261 (src/shared/condition.h at v261 lists 37 types:
#: these 5 and the 33 of 252, with ``KernelVersion`` an alias of ``Version``). systemd 252
#: rejects them ("Cannot parse" on the command line, "Unknown key name" in a unit file); so does
#: ``--systemd-compat``.
TYPES_NEWER: tuple[str, ...] = ("Version", "KernelModuleLoaded", "PathIsSocket", "Fraction", "MachineTag")

#: Every type we evaluate.
TYPES: tuple[str, ...] = (*TYPES_252, *TYPES_NEWER)

#: Types whose value goes through systemd's path parser (absolute + normalized, no whitespace
#: skipping after ``|``/``!``). Source: load-fragment-gperf.gperf.in (v252); in v261
#: ``condition_takes_path()``: NeedsUpdate and PathExists … FileIsExecutable, so PathIsSocket too.
PATH_TYPES: frozenset[str] = frozenset(
    {
        "PathExists",
        "PathExistsGlob",
        "PathIsDirectory",
        "PathIsSymbolicLink",
        "PathIsMountPoint",
        "PathIsReadWrite",
        "PathIsEncrypted",
        "DirectoryNotEmpty",
        "FileNotEmpty",
        "FileIsExecutable",
        "NeedsUpdate",
        "PathIsSocket",
    }
)

_TYPE_SET = frozenset(TYPES)
_TYPE_SET_252 = frozenset(TYPES_252)


class Condition(Record):
    """One parsed assignment (immutable, hashable, compared by value).

    Attributes:
        kind: ``"Condition"`` (failing = skip) or ``"Assert"`` (failing = error).
        type: the type without prefix, e.g. ``"CPUFeature"``.
        trigger: ``|`` given: a triggering condition (at least one trigger must pass).
        negate: ``!`` given: the result is inverted.
        parameter: the value after the prefixes (paths simplified).
        source: where it came from: ``"argv[1]"`` or ``"unit.service:12"``.
    """

    _fields = ("kind", "type", "trigger", "negate", "parameter", "source")
    __slots__ = ("kind", "negate", "parameter", "source", "trigger", "type")
    __match_args__ = ("kind", "type", "trigger", "negate", "parameter", "source")
    kind: Kind
    type: str
    trigger: bool
    negate: bool
    parameter: str
    source: str

    def __init__(
        self, kind: Kind, type: str, trigger: bool, negate: bool, parameter: str, source: str = "argv"
    ) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "trigger", trigger)
        object.__setattr__(self, "negate", negate)
        object.__setattr__(self, "parameter", parameter)
        object.__setattr__(self, "source", source)

    @property
    def name(self) -> str:
        """The full setting name, e.g. ``ConditionCPUFeature``."""
        return f"{self.kind}{self.type}"

    def __str__(self) -> str:
        return (
            f"{self.kind}{self.type}={'|' if self.trigger else ''}{'!' if self.negate else ''}"
            f"{self.parameter}"
        )


def _suggest(name: str) -> list[str]:
    import difflib  # error path only (~1 ms)

    candidates = [f"{k}{t}" for k in ("Condition", "Assert") for t in TYPES]
    lower = {c.lower(): c for c in candidates}
    if name.lower() in lower:
        return [lower[name.lower()]]
    found = difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)
    return [lower[f] for f in found]


def split_name(name: str, *, systemd_compat: bool = False) -> tuple[Kind, str]:
    """Split ``ConditionX`` / ``AssertX`` into kind and type.

    Raises:
        UnknownConditionError: unknown prefix or type (case-sensitive, like systemd), with the
            closest known names in ``.suggestions``; with ``systemd_compat``, also a type that
            systemd 252 does not know (:data:`TYPES_NEWER`).
    """
    kind: Kind
    if name.startswith("Condition"):
        kind, rest = "Condition", name[len("Condition") :]
    elif name.startswith("Assert"):
        kind, rest = "Assert", name[len("Assert") :]
    else:
        kind, rest = "Condition", ""
    if systemd_compat and rest in _TYPE_SET and rest not in _TYPE_SET_252:
        raise UnknownConditionError(
            f"{name}= is newer than systemd 252, which cannot parse it (--systemd-compat); "
            "without --systemd-compat it is evaluated like systemd 261",
            type=name,
            suggestions=[],
        )
    if rest not in _TYPE_SET:
        suggestions = _suggest(name)
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        raise UnknownConditionError(
            f"unknown condition type {name!r}{hint}; names are case-sensitive, see "
            "`man systemd.unit` (Conditions and Asserts)",
            type=name,
            suggestions=suggestions,
        )
    return kind, rest
