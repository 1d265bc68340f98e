"""systemd-style ``Condition*=`` / ``Assert*=`` parsing and evaluation, with CPU features checked on
every CPU.

Public API (docs/INTERFACES.md "Conditions")::

    conds = parse_assignments(["ConditionCPUFeature=avx2", "AssertArchitecture=x86-64"])
    verdict = evaluate(conds, EvalOptions(view="usable", cpus="all"))
    verdict.conditions_ok, verdict.asserts_ok, verdict.results

Names are loaded lazily so that importing this package costs nothing until used.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Condition",
    "ConditionResult",
    "EvalOptions",
    "Verdict",
    "evaluate",
    "parse_assignment",
    "parse_assignments",
    "parse_unit_file",
    "required_cpu_features",
]

_LAZY = {
    "Condition": "parse",
    "parse_assignment": "parse",
    "parse_assignments": "parse",
    "parse_unit_file": "parse",
    "ConditionResult": "evaluate",
    "EvalOptions": "evaluate",
    "Verdict": "evaluate",
    "evaluate": "evaluate",
    "required_cpu_features": "evaluate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
