"""systemd-style ``Condition*=`` / ``Assert*=`` parsing and evaluation, with CPU features checked on
every CPU.

Public API (docs/INTERFACES.md "Conditions")::

    conds = parse_assignments(["ConditionCPUFeature=avx2", "AssertArchitecture=x86-64"])
    verdict = evaluate(conds, EvalOptions(view="usable", cpus="all"))
    verdict.conditions_ok, verdict.asserts_ok, verdict.results

``parse`` and ``evaluate`` are imported eagerly (they are small and stdlib-only): a lazy
``evaluate`` attribute would be shadowed by the ``evaluate`` submodule as soon as anything imports
``config_reloader.conditions.evaluate``. The per-type checks, virtualization detection and the
``cpu`` package are imported only when a condition needs them.
"""

from __future__ import annotations

from config_reloader.conditions.evaluate import (
    ConditionResult,
    EvalOptions,
    Verdict,
    evaluate,
    required_cpu_features,
)
from config_reloader.conditions.parse import (
    Condition,
    parse_assignment,
    parse_assignments,
    parse_unit_file,
    parse_unit_text,
)

__all__ = [
    "Condition",
    "ConditionResult",
    "EvalOptions",
    "Verdict",
    "evaluate",
    "parse_assignment",
    "parse_assignments",
    "parse_unit_file",
    "parse_unit_text",
    "required_cpu_features",
]
