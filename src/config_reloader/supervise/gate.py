"""The gate of ``config-reloader run``: conditions, asserts and the pin set.

Semantics are systemd's (``systemd.unit(5)``, "Conditions and Asserts"; engine in
:mod:`config_reloader.conditions`): failing conditions skip the start (not an error), failing
asserts are an error. The pin set is the set of CPUs in the current affinity mask
(``sched_getaffinity(2)``) on which every feature named by a non-negated
``ConditionCPUFeature=`` or ``AssertCPUFeature=`` is usable (rules C2-C3 in docs/design.md; engine in
:mod:`config_reloader.cpu`). Pinning is on by default only when a ``ConditionCPUFeature=`` is given.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from config_reloader.supervise.childmetrics import format_cpus

if TYPE_CHECKING:
    from config_reloader.conditions.evaluate import Verdict
    from config_reloader.conditions.parse import Condition
    from config_reloader.cpu import MachineFeatures

__all__ = ["GateResult", "gate"]


@dataclass(frozen=True, slots=True)
class GateResult:
    """Outcome of the conditions and the pin-set computation.

    Attributes:
        action: ``"start"``, ``"skip"`` (a condition failed: exit 0 or ``--skip-exit-code``) or
            ``"assert-failed"`` (exit 1).
        verdict: the conditions engine's Verdict (None when there were no conditions).
        cpus: the pin set (None = not pinning).
        required_features: feature names from ``ConditionCPUFeature=`` then ``AssertCPUFeature=``
            (non-negated, non-triggering; the features the pin set requires).
        reason: human-readable reason for skip / assert-failed ("" when starting).
    """

    action: Literal["start", "skip", "assert-failed"]
    verdict: Verdict | None
    cpus: frozenset[int] | None
    required_features: tuple[str, ...]
    reason: str = ""


def gate(
    conditions: Sequence[Condition],
    *,
    pin_cpus: bool | None = None,
    machine: MachineFeatures | None = None,
    affinity: Iterable[int] | None = None,
) -> GateResult:
    """Compute the pin set, then evaluate conditions/asserts on the CPUs the child may run on.

    With pinning, "every CPU the service could run on" (rule C3 in docs/design.md) is the pin set, so the
    conditions are evaluated on a machine restricted to it: on a heterogeneous machine
    ``ConditionCPUFeature=avx512f`` passes when some CPUs have it (the child is pinned to those)
    and fails, as a skip, when none has it. Without pinning every CPU of the affinity mask counts.
    With a capture (``machine``), pinned or not, only its CPUs that are in the affinity mask count.

    Args:
        conditions: parsed ``Condition*=`` / ``Assert*=`` (conditions.parse_assignment / parse_unit_file).
        pin_cpus: True/False as ``--pin-cpus``/``--no-pin-cpus``; None = pin iff a
            ``ConditionCPUFeature=`` requirement (non-negated, non-triggering) is present (an
            ``AssertCPUFeature=`` alone does not turn pinning on, docs/run.md).
        machine: CPU features to evaluate against (tests, captures); None = probe this machine.
        affinity: the CPUs we may run on; None = ``os.sched_getaffinity(0)``.

    Returns:
        A :class:`GateResult`. An empty pin set (no CPU of the affinity mask has all required
        features usable) makes the gate ``"assert-failed"`` when the ``AssertCPUFeature=``
        features emptied it (no CPU has them, or none of the CPUs the conditions leave), else
        ``"skip"``.

    Raises:
        ConditionError: input errors (unknown feature names, malformed values), from the
            conditions engine.
        CpuidError: probing the CPUs failed.
    """
    cond_required: tuple[str, ...] = ()
    assert_required: tuple[str, ...] = ()
    if conditions:
        from config_reloader.conditions.evaluate import required_cpu_features

        cond_required = tuple(required_cpu_features([c for c in conditions if c.kind == "Condition"]))
        assert_required = tuple(required_cpu_features([c for c in conditions if c.kind == "Assert"]))
    required = cond_required + tuple(n for n in assert_required if n not in cond_required)
    do_pin = bool(cond_required) if pin_cpus is None else pin_cpus
    allowed = frozenset(os.sched_getaffinity(0) if affinity is None else affinity)

    cpus: frozenset[int] | None = None
    if do_pin:
        if required:
            from config_reloader.cpu import pin_set, probe_machine

            if machine is None:
                machine = probe_machine()
            targets = allowed & frozenset(machine.targets())
            machine = machine.replace(affinity=targets)
            cpus = frozenset(pin_set(machine, list(required)))
        else:
            cpus = allowed
        if not cpus:
            # Asserts take precedence, as in the verdict below: the asserts' features emptied the
            # set when no CPU has them, or when the CPUs the conditions leave all lack them.
            by_assert = bool(assert_required) and (
                machine is None
                or not pin_set(machine, list(assert_required))
                or bool(pin_set(machine, list(cond_required)))
            )
            return GateResult(
                "assert-failed" if by_assert else "skip",
                None,
                frozenset(),
                required,
                f"no CPU in the affinity mask {format_cpus(allowed)} has all of {', '.join(required)} usable",
            )
        if required and machine is not None:
            machine = machine.replace(affinity=cpus)

    if machine is not None and not (do_pin and required):
        # A capture (--cpu-data) describes its own CPUs, not ours: without pinning, as with it,
        # only the CPUs of our mask count. CPUs of the mask the capture lacks are left out, as
        # the pin set leaves them out; when it has none of them, every CPU of the mask is
        # unknown, so a CPU feature check cannot be determined and fails.
        counted = allowed & frozenset(machine.targets())
        machine = machine.replace(affinity=counted or allowed)

    verdict: Verdict | None = None
    if conditions:
        from config_reloader.conditions.evaluate import EvalOptions, evaluate

        if machine is None and affinity is not None and any(c.type == "CPUFeature" for c in conditions):
            from config_reloader.cpu import probe_machine

            machine = probe_machine().replace(affinity=allowed)
        verdict = evaluate(conditions, EvalOptions(machine=machine))
        failed = [r for r in verdict.results if not r.passed]
        if not verdict.asserts_ok:
            why = "; ".join(f"{r.condition}: {r.reason}" for r in failed if r.condition.kind == "Assert")
            return GateResult("assert-failed", verdict, None, required, why)
        if not verdict.conditions_ok:
            why = "; ".join(f"{r.condition}: {r.reason}" for r in failed if r.condition.kind == "Condition")
            return GateResult("skip", verdict, None, required, why or "no triggering condition passed")
    return GateResult("start", verdict, cpus, required)
