"""Combination semantics (systemd condition_test_list) and ConditionCPUFeature on captured machines."""

from __future__ import annotations

from pathlib import Path

import pytest

from config_reloader.conditions import EvalOptions, evaluate, parse_assignments, required_cpu_features
from config_reloader.cpu import CpuFeatures, MachineFeatures, load_capture
from config_reloader.errors import ConditionSyntaxError, NotSupportedHere, UnknownFeatureError

DUMPS = Path(__file__).resolve().parents[2] / "data" / "cpuid-dumps"
ENV = {"YES": "1"}  # ConditionEnvironment=YES is true, =NO is false: deterministic building blocks


def verdict(*args: str, **kw: object) -> tuple[bool, bool]:
    v = evaluate(parse_assignments(args), EvalOptions(environ=ENV, **kw))  # type: ignore[arg-type]
    return v.conditions_ok, v.asserts_ok


@pytest.mark.parametrize(
    ("args", "conditions_ok"),
    [
        ((), True),
        (("ConditionEnvironment=YES",), True),
        (("ConditionEnvironment=NO",), False),
        (("ConditionEnvironment=!NO",), True),
        (("ConditionEnvironment=|NO", "ConditionEnvironment=|YES"), True),
        (("ConditionEnvironment=|NO", "ConditionEnvironment=|!YES"), False),
        (("ConditionEnvironment=|YES", "ConditionEnvironment=NO"), False),  # plain must pass too
        (("ConditionEnvironment=|!NO", "ConditionEnvironment=YES"), True),
        (("ConditionEnvironment=NO", "ConditionEnvironment="), True),  # reset
    ],
)
def test_condition_combination(args: tuple[str, ...], conditions_ok: bool) -> None:
    assert verdict(*args) == (conditions_ok, True)


def test_asserts_are_a_separate_list() -> None:
    assert verdict("AssertEnvironment=NO", "ConditionEnvironment=YES") == (True, False)
    assert verdict("AssertEnvironment=YES", "ConditionEnvironment=NO") == (False, True)
    assert verdict("AssertEnvironment=|NO", "ConditionEnvironment=|YES") == (True, False)


def test_results_keep_input_order_and_reasons() -> None:
    v = evaluate(
        parse_assignments(["ConditionEnvironment=NO", "AssertEnvironment=YES"]), EvalOptions(environ=ENV)
    )
    assert [r.condition.kind for r in v.results] == ["Condition", "Assert"]
    assert [r.passed for r in v.results] == [False, True]
    assert v.results[0].reason == "not set in the environment"
    assert not v.ok


def test_error_fails_whatever_the_negation_in_compat() -> None:
    # systemd: "Couldn't determine result ..., assuming failed" even for a negated condition
    for arg in ("ConditionMemory=lots", "ConditionMemory=!lots"):
        assert verdict(arg, systemd_compat=True) == (False, True)
        with pytest.raises(ConditionSyntaxError, match="argv"):
            verdict(arg)


def test_not_supported_here() -> None:
    with pytest.raises(NotSupportedHere):
        verdict("ConditionFirstBoot=yes")


def _machine(name: str) -> MachineFeatures:
    return load_capture(str(DUMPS / name))


def test_cpu_feature_on_every_cpu_of_a_capture() -> None:
    ivy = _machine("intel-ivybridge-celeron-g1610.txt")
    v = evaluate(parse_assignments(["ConditionCPUFeature=AVX2"]), EvalOptions(machine=ivy))
    r = v.results[0]
    assert not r.passed
    assert "not usable on CPUs" in r.reason and r.detail["missing_on"]
    assert r.detail["view"] == "usable"
    zen4 = _machine("amd-zen4-ryzen-7-7700x.txt")
    for name in ("avx512f", "x86-64-v4", "pclmul", "fma3", "sse3"):  # systemd names, aliases, levels
        v = evaluate(parse_assignments([f"ConditionCPUFeature={name}"]), EvalOptions(machine=zen4))
        assert v.ok, v.results[0].reason


def test_unknown_cpu_feature_is_an_input_error_with_suggestions() -> None:
    with pytest.raises(UnknownFeatureError) as info:
        evaluate(
            parse_assignments(["ConditionCPUFeature=avx512"]), EvalOptions(machine=_machine("qemu-kvm64.txt"))
        )
    assert info.value.suggestions


def _fake(cpus: dict[int, frozenset[str] | None]) -> MachineFeatures:
    return MachineFeatures(
        arch="x86-64",
        backend="test",
        cpus={c: None if f is None else CpuFeatures(c, f, f, f, frozenset()) for c, f in cpus.items()},
        current_cpu=0,
    )


def test_hybrid_machine_names_the_cpus_that_lack_it_and_scopes() -> None:
    m = _fake({0: frozenset({"avx2"}), 1: frozenset({"avx2"}), 2: frozenset(), 3: frozenset()})
    conds = parse_assignments(["ConditionCPUFeature=avx2"])
    r = evaluate(conds, EvalOptions(machine=m)).results[0]
    assert not r.passed and "CPUs 2-3" in r.reason
    assert "usable on CPUs 0-1 (pin there" in r.reason
    assert evaluate(conds, EvalOptions(machine=m, cpus="any")).ok
    assert evaluate(conds, EvalOptions(machine=m, cpus="current")).ok


def test_unknown_cpu_does_not_pass_for_all_even_negated() -> None:
    m = _fake({0: frozenset({"avx2"}), 1: None})
    for arg in ("ConditionCPUFeature=avx2", "ConditionCPUFeature=!avx2"):
        r = evaluate(parse_assignments([arg]), EvalOptions(machine=m)).results[0]
        assert not r.passed
        assert "unknown on CPUs 1" in r.reason and r.detail["error"] is True
    assert evaluate(parse_assignments(["ConditionCPUFeature=avx2"]), EvalOptions(machine=m, cpus="any")).ok


def test_required_cpu_features() -> None:
    conds = parse_assignments(
        ["ConditionCPUFeature=AVX2", "AssertCPUFeature=fma3", "ConditionCPUFeature=!avx512f",
         "ConditionCPUFeature=|sse4_2", "ConditionCPUFeature=avx2", "ConditionHost=x"]
    )  # fmt: skip
    assert required_cpu_features(conds) == ["avx2", "fma"]


def test_eval_options_validate() -> None:
    with pytest.raises(ValueError, match="view"):
        EvalOptions(view="raw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cpus"):
        EvalOptions(cpus="some")  # type: ignore[arg-type]


@pytest.mark.parametrize("arg", ["ConditionCPUFeature=avx2 sse2", "ConditionCPUFeature=avx2 "])
def test_cpu_feature_with_spaces_is_an_input_error(arg: str) -> None:
    with pytest.raises(ConditionSyntaxError, match="one CPU feature per assignment"):
        evaluate(parse_assignments([arg]), EvalOptions(machine=_machine("qemu-kvm64.txt")))


def test_raise_for_asserts() -> None:
    from config_reloader.errors import ConditionAssertFailed

    v = evaluate(
        parse_assignments(["AssertEnvironment=NO", "ConditionEnvironment=NO"]), EvalOptions(environ=ENV)
    )
    with pytest.raises(ConditionAssertFailed, match="AssertEnvironment=NO: not set") as info:
        v.raise_for_asserts()
    assert len(info.value.results) == 1
    evaluate(parse_assignments(["ConditionEnvironment=NO"]), EvalOptions(environ=ENV)).raise_for_asserts()
