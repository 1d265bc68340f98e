"""Types shared by the checks: :class:`Outcome`, :class:`Context`, :class:`CheckError`.

Kept tiny and free of ``dataclasses`` and ``typing`` so that ``config-reloader condition`` with
only ``ConditionCPUFeature=`` imports nothing it does not need (start-up budget B1 in docs/design.md).
"""

from __future__ import annotations

import os

from config_reloader.errors import ConditionSyntaxError
from config_reloader.record import Record

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from config_reloader.cpu import MachineFeatures

# The file readers and the syntax-error constructor at the end are shared by every check group.
__all__ = ["CheckError", "Context", "Outcome", "read_first", "read_text", "syntax_error"]


class CheckError(Exception):
    """The fact a condition asks about could not be determined (the condition fails, whatever
    its negation: systemd's ``CONDITION_ERROR``)."""


class Outcome(Record):
    """Un-negated answer of a check (immutable).

    Attributes:
        value: the answer to the question the type asks (before ``!``).
        reason: one human sentence, e.g. ``"/etc exists"``.
        detail: machine-readable facts (JSON-serialisable), e.g. ``{"memory_bytes": 123}``.
    """

    _fields = ("value", "reason", "detail")
    __slots__ = ("detail", "reason", "value")
    __match_args__ = ("value", "reason", "detail")
    value: bool
    reason: str
    detail: Mapping[str, object]

    def __init__(self, value: bool, reason: str, detail: Mapping[str, object]) -> None:
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "detail", detail)


class Context:
    """What a check may look at besides its parameter.

    Attributes:
        view: CPU feature view for ``CPUFeature`` (``"cpu"``, ``"usable"``, ``"kernel"``).
        cpus: CPU scope for ``CPUFeature`` (``"all"``, ``"any"``, ``"current"``).
        systemd_compat: answer exactly like systemd 252 (see checks module docstring).
        machine: a captured machine (``--cpu-data``) driving ``CPUFeature`` and ``Architecture``.
        environ: the environment ``ConditionEnvironment=``/``ConditionCredential=`` look at
            (default: a copy of ``os.environ``).
        cache: per-evaluation memo (the probed machine).
    """

    __slots__ = ("cache", "cpus", "environ", "machine", "systemd_compat", "view")

    def __init__(
        self,
        *,
        view: str = "usable",
        cpus: str = "all",
        systemd_compat: bool = False,
        machine: MachineFeatures | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.view = view
        self.cpus = cpus
        self.systemd_compat = systemd_compat
        self.machine = machine
        self.environ: Mapping[str, str] = dict(os.environ) if environ is None else environ
        self.cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (
            f"Context(view={self.view!r}, cpus={self.cpus!r}, systemd_compat={self.systemd_compat!r}, "
            f"machine={'set' if self.machine is not None else None})"
        )


def syntax_error(message: str, parameter: str) -> ConditionSyntaxError:
    """The error a check raises for a malformed parameter (exit status 2; under
    ``--systemd-compat`` the evaluator turns it into systemd's "assuming failed")."""
    return ConditionSyntaxError(message, text=parameter)


def read_text(path: str) -> str:
    """The whole text file (undecodable bytes replaced).

    Raises:
        CheckError: unreadable (the condition fails, whatever its negation).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror}") from exc


def read_first(path: str) -> str:
    """The stripped text of a small (sysfs/procfs) file, or ``""`` if it cannot be read."""
    try:
        return read_text(path).strip()
    except CheckError:
        return ""
