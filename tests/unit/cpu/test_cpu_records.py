"""The CPU result types are immutable records (they replaced frozen dataclasses, for start-up time):
value semantics, ``replace()``, pickling."""

from __future__ import annotations

import copy
import pickle

import pytest

from config_reloader.cpu import CpuFeatures, FeatureCheck, MachineFeatures, check_features
from config_reloader.cpu.features import X86_FEATURES, Feature
from config_reloader.record import Record

AVX2 = frozenset({"avx", "avx2"})


def _cpu(n: int, leaves: dict[tuple[int, int], tuple[int, int, int, int]] | None = None) -> CpuFeatures:
    return CpuFeatures(n, AVX2, AVX2, None, frozenset(), leaves, 0x7, "xgetbv")


def test_cpu_features_ignore_raw_leaves_in_equality_hash_and_repr() -> None:
    a, b = _cpu(0, {(1, 0): (1, 2, 3, 4)}), _cpu(0)
    assert a == b and hash(a) == hash(b)
    assert a.leaves == {(1, 0): (1, 2, 3, 4)} and b.leaves == {}
    assert "leaves" not in repr(a) and repr(a).startswith("CpuFeatures(cpu=0, cpu_view=")
    assert a != a.replace(cpu=1)
    with pytest.raises(AttributeError, match="immutable"):
        a.cpu = 3


def test_machine_features_value_semantics_and_copies() -> None:
    m = MachineFeatures("x86-64", "fake", {0: _cpu(0), 1: None}, affinity=frozenset({0}))
    assert m.targets() == [0]
    assert pickle.loads(pickle.dumps(m)) == m and copy.deepcopy(m) == m
    wider = m.replace(affinity=None)
    assert wider.targets() == [0, 1] and m.affinity == frozenset({0})
    match m:
        case MachineFeatures("x86-64", backend, cpus):
            assert backend == "fake" and set(cpus) == {0, 1}
        case _:
            pytest.fail("match_args")


def test_replace_keeps_type_and_changes_fields() -> None:
    """supervise/gate.py narrows a machine with machine.replace(affinity=...)."""
    m = MachineFeatures("x86-64", "fake", {0: _cpu(0)})
    got = m.replace(affinity=frozenset({0}), current_cpu=0)
    assert type(got) is MachineFeatures and got.affinity == frozenset({0}) and got.current_cpu == 0
    assert list(got.as_dict()) == list(MachineFeatures._fields)
    with pytest.raises(TypeError):
        m.replace(no_such_field=1)


def test_feature_check_and_table_rows_are_records() -> None:
    fc = check_features(MachineFeatures("x86-64", "fake", {0: _cpu(0)}), ["avx2"])
    assert isinstance(fc, FeatureCheck) and fc.result is True and fc.per_cpu == {0: True}
    assert fc == fc.replace() and fc.replace(result=False).result is False
    avx2 = next(f for f in X86_FEATURES if f.name == "avx2")
    assert avx2 == Feature("avx2", 7, 0, "ebx", 5, 0x6, "avx2", (), "avx2")
    assert len({hash(f) for f in X86_FEATURES}) == len(X86_FEATURES)


@pytest.mark.parametrize("cls", [CpuFeatures, MachineFeatures, FeatureCheck, Feature])
def test_fields_slots_and_match_args_agree(cls: type[Record]) -> None:
    assert cls._fields and sorted(cls._fields) == sorted(cls.__slots__)
    if hasattr(cls, "__match_args__"):
        assert cls.__match_args__ == cls._fields
