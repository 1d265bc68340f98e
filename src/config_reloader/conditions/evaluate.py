"""Combination semantics of conditions and asserts (systemd's, v252).

* Each condition is tested on its own: the check's answer, then ``!`` inverts it. A test that
  cannot be determined (:class:`~config_reloader.conditions.base.CheckError`) fails, whatever its
  negation (systemd's ``CONDITION_ERROR``).
* A list (conditions, or asserts, separately) passes if every non-triggering item passes and, when
  there are triggering (``|``) items, at least one of them passes. An empty list passes.
* Conditions failing means "skip" (not an error); asserts failing means an error. Both lists are
  always evaluated in full here (systemd stops at the first failing non-trigger item and logs in
  reverse order; the verdict is the same).

Source: systemd src/shared/condition.c ``condition_test`` / ``condition_test_list`` (v252);
systemd.unit(5) "Conditions and Asserts".
"""

from __future__ import annotations

from config_reloader.conditions.parse import Condition
from config_reloader.errors import ConditionSyntaxError
from config_reloader.record import Record

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Literal

    from config_reloader.cpu import MachineFeatures

__all__ = [
    "DEFAULT_OPTIONS",
    "ConditionResult",
    "EvalOptions",
    "Verdict",
    "evaluate",
    "required_cpu_features",
]


class EvalOptions(Record):
    """How to evaluate (immutable; keyword arguments only).

    Attributes:
        view: CPU feature view for ``ConditionCPUFeature`` (``"cpu"`` raw CPUID, ``"usable"``
            CPUID + XCR0 enabled by the OS, ``"kernel"`` /proc/cpuinfo token). CLI ``--view``.
        cpus: which CPUs must have the feature: ``"all"`` of the affinity mask, ``"any"`` one of
            them, or the ``"current"`` one. CLI ``--cpus``.
        systemd_compat: behave exactly like systemd 252 (51-name CPU table, unknown names false,
            current CPU only, systemd's answers for malformed values). CLI ``--systemd-compat``.
        machine: a captured machine (``--cpu-data``) for ``CPUFeature`` and ``Architecture``;
            ``None`` probes this machine.
        environ: the environment for ``ConditionEnvironment=``/``ConditionCredential=``;
            ``None`` = ``os.environ`` at evaluation time.

    Raises:
        ValueError: unknown ``view`` or ``cpus``.
    """

    _fields = ("view", "cpus", "systemd_compat", "machine", "environ")
    __slots__ = ("cpus", "environ", "machine", "systemd_compat", "view")
    view: Literal["cpu", "usable", "kernel"]
    cpus: Literal["all", "any", "current"]
    systemd_compat: bool
    machine: MachineFeatures | None
    environ: Mapping[str, str] | None

    def __init__(
        self,
        *,
        view: Literal["cpu", "usable", "kernel"] = "usable",
        cpus: Literal["all", "any", "current"] = "all",
        systemd_compat: bool = False,
        machine: MachineFeatures | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if view not in ("cpu", "usable", "kernel"):
            raise ValueError(f"view must be cpu, usable or kernel, not {view!r}")
        if cpus not in ("all", "any", "current"):
            raise ValueError(f"cpus must be all, any or current, not {cpus!r}")
        object.__setattr__(self, "view", view)
        object.__setattr__(self, "cpus", cpus)
        object.__setattr__(self, "systemd_compat", systemd_compat)
        object.__setattr__(self, "machine", machine)
        object.__setattr__(self, "environ", environ)


class ConditionResult(Record):
    """The result of one condition or assert (immutable).

    Attributes:
        condition: what was tested.
        passed: after negation; ``False`` also when the test errored.
        reason: one sentence for humans (what was found).
        detail: JSON-serialisable facts; ``"error": True`` when the test could not be determined.
    """

    _fields = ("condition", "passed", "reason", "detail")
    __slots__ = ("condition", "detail", "passed", "reason")
    __match_args__ = ("condition", "passed", "reason", "detail")
    condition: Condition
    passed: bool
    reason: str
    detail: Mapping[str, object]

    def __init__(self, condition: Condition, passed: bool, reason: str, detail: Mapping[str, object]) -> None:
        object.__setattr__(self, "condition", condition)
        object.__setattr__(self, "passed", passed)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "detail", detail)


class Verdict(Record):
    """All results, in input order, and the combined answers (immutable).

    Attributes:
        results: one per condition/assert.
        conditions_ok: the ``Condition*`` list passes (else: skip the unit).
        asserts_ok: the ``Assert*`` list passes (else: fail the unit).
    """

    _fields = ("results", "conditions_ok", "asserts_ok")
    __slots__ = ("asserts_ok", "conditions_ok", "results")
    __match_args__ = ("results", "conditions_ok", "asserts_ok")
    results: tuple[ConditionResult, ...]
    conditions_ok: bool
    asserts_ok: bool

    def __init__(self, results: tuple[ConditionResult, ...], conditions_ok: bool, asserts_ok: bool) -> None:
        object.__setattr__(self, "results", tuple(results))
        object.__setattr__(self, "conditions_ok", conditions_ok)
        object.__setattr__(self, "asserts_ok", asserts_ok)

    @property
    def ok(self) -> bool:
        """Both lists pass (exit status 0)."""
        return self.conditions_ok and self.asserts_ok

    def raise_for_asserts(self) -> None:
        """Raise if the asserts failed (conditions failing is a skip, not an error).

        Raises:
            ConditionAssertFailed: with the failed assert results in ``.results`` and their
                reasons in the message.
        """
        if self.asserts_ok:
            return
        from config_reloader.errors import ConditionAssertFailed

        failed = [r for r in self.results if r.condition.kind == "Assert" and not r.passed]
        why = "; ".join(f"{r.condition}: {r.reason}" for r in failed) or "no triggering assert passed"
        raise ConditionAssertFailed(f"asserts failed: {why}", results=failed)


def _combine(results: Sequence[ConditionResult]) -> bool:
    triggers = [r.passed for r in results if r.condition.trigger]
    plain_ok = all(r.passed for r in results if not r.condition.trigger)
    return plain_ok and (not triggers or any(triggers))


def evaluate_one(condition: Condition, ctx: object) -> ConditionResult:
    """Test one condition with a :class:`~config_reloader.conditions.base.Context`.

    Raises:
        ConditionSyntaxError: malformed parameter (default mode only).
        UnknownFeatureError: unknown CPU feature name (default mode only).
        NotSupportedHere: a type only PID 1 can answer.
    """
    from config_reloader.conditions.base import CheckError, Context, Outcome

    assert isinstance(ctx, Context)
    check: Callable[[str, Context], Outcome]
    if condition.type == "CPUFeature":  # the common case needs none of the other checks
        from config_reloader.conditions.cpufeature import check_cpu_feature

        check = check_cpu_feature
    else:
        from config_reloader.conditions.checks import CHECKS

        check = CHECKS[condition.type]
    try:
        outcome = check(condition.parameter, ctx)
    except ConditionSyntaxError as exc:
        if not ctx.systemd_compat:
            raise ConditionSyntaxError(
                f"{condition.source}: {condition}: {exc}",
                text=str(condition),
                line=exc.line,
                column=exc.column,
            ) from None
        return ConditionResult(
            condition, False, f"could not determine the result, assuming failed: {exc}", {"error": True}
        )
    except CheckError as exc:
        return ConditionResult(
            condition, False, f"could not determine the result, assuming failed: {exc}", {"error": True}
        )
    passed = outcome.value != condition.negate
    reason = outcome.reason
    if condition.negate:
        reason = f"negated: {reason}"
    return ConditionResult(condition, passed, reason, dict(outcome.detail))


#: The default options: usable view, every CPU, our semantics.
DEFAULT_OPTIONS = EvalOptions()


def evaluate(conditions: Sequence[Condition], options: EvalOptions = DEFAULT_OPTIONS) -> Verdict:
    """Evaluate conditions and asserts with systemd's combination rules (see module docstring).

    Args:
        conditions: from :func:`~config_reloader.conditions.parse.parse_assignments` or
            :func:`~config_reloader.conditions.parse.parse_unit_file`.
        options: views, CPU scope, compat mode, captured machine.

    Returns:
        A :class:`Verdict`; results are in input order.

    Raises:
        ConditionSyntaxError: a malformed parameter (e.g. ``ConditionMemory=lots``), default mode.
        UnknownFeatureError: unknown CPU feature name, with suggestions (default mode).
        NotSupportedHere: e.g. ``ConditionFirstBoot=`` outside ``--systemd-compat``.
    """
    from config_reloader.conditions.base import Context

    ctx = Context(
        view=options.view,
        cpus=options.cpus,
        systemd_compat=options.systemd_compat,
        machine=options.machine,
        environ=options.environ,
    )
    results = tuple(evaluate_one(c, ctx) for c in conditions)
    return Verdict(
        results=results,
        conditions_ok=_combine([r for r in results if r.condition.kind == "Condition"]),
        asserts_ok=_combine([r for r in results if r.condition.kind == "Assert"]),
    )


def required_cpu_features(conditions: Sequence[Condition]) -> list[str]:
    """CPU features the process needs on the CPUs it runs on (for ``run --pin-cpus``).

    Only non-negated, non-triggering ``ConditionCPUFeature=``/``AssertCPUFeature=`` items are
    requirements (a trigger is one of alternatives; a negation is a requirement of absence).
    Names are canonicalised with ``config_reloader.cpu.resolve_feature``, deduplicated, in order.

    Raises:
        UnknownFeatureError: an unknown name.
    """
    from config_reloader import cpu

    out: list[str] = []
    for c in conditions:
        if c.type == "CPUFeature" and not c.negate and not c.trigger:
            name = cpu.resolve_feature(c.parameter)
            if name not in out:
                out.append(name)
    return out
