"""The public condition types are immutable values (they replaced frozen dataclasses)."""

from __future__ import annotations

import copy
import pickle

import pytest

from config_reloader.conditions import Condition, ConditionResult, EvalOptions, Verdict
from config_reloader.record import Record


def test_value_semantics() -> None:
    c = Condition("Condition", "Host", False, True, "x", "argv[1]")
    same = Condition(
        kind="Condition", type="Host", trigger=False, negate=True, parameter="x", source="argv[1]"
    )
    assert c == same and hash(c) == hash(same) and {c: 1}[same] == 1
    assert c != c.replace(source="argv[2]")
    assert repr(c).startswith("Condition(kind='Condition', type='Host'")
    assert pickle.loads(pickle.dumps(c)) == c and copy.deepcopy(c) == c
    with pytest.raises(AttributeError, match="immutable"):
        c.parameter = "y"
    with pytest.raises(TypeError, match="no field"):
        c.replace(bogus=1)
    match c:
        case Condition("Condition", "Host", _, True, param):
            assert param == "x"
        case _:
            pytest.fail("match_args")


def test_other_types() -> None:
    c = Condition("Assert", "Host", False, False, "x")
    r = ConditionResult(c, True, "ok", {})
    v = Verdict([r], True, True)  # type: ignore[arg-type]
    assert v.results == (r,) and v.ok
    assert v.as_dict() == {"results": (r,), "conditions_ok": True, "asserts_ok": True}
    assert EvalOptions(view="kernel").replace(cpus="any") == EvalOptions(view="kernel", cpus="any")
    with pytest.raises(TypeError):
        EvalOptions("kernel")  # type: ignore[call-arg]  # keyword-only


@pytest.mark.parametrize("cls", [Condition, ConditionResult, Verdict, EvalOptions])
def test_fields_and_slots_agree(cls: type[Record]) -> None:
    assert cls._fields and sorted(cls._fields) == sorted(cls.__slots__)
