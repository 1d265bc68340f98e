"""The gate of ``run``: conditions (skip), asserts (exit 1), input errors (exit 2), pinning to
capable CPUs (real affinity under taskset; heterogeneous machines through fake CPU data)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from config_reloader.conditions.parse import parse_assignment
from config_reloader.cpu import CpuFeatures, MachineFeatures, probe_machine
from config_reloader.supervise import gate


def _cond(*texts: str) -> list:
    return [c for c in (parse_assignment(t) for t in texts) if c is not None]


def _machine(per_cpu: dict[int, set[str] | None]) -> MachineFeatures:
    cpus = {
        n: None if names is None else CpuFeatures(n, frozenset(names), frozenset(names), None, frozenset())
        for n, names in per_cpu.items()
    }
    return MachineFeatures(arch="x86-64", backend="fake", cpus=cpus)


# A hybrid-like machine: CPUs 0-1 with AVX-512, 2-3 AVX2 only, 4 unknown (offline/unreadable).
HETERO = {
    0: {"sse2", "avx2", "avx512f"},
    1: {"sse2", "avx2", "avx512f"},
    2: {"sse2", "avx2"},
    3: {"sse2", "avx2"},
    4: None,
}


def test_pin_set_on_heterogeneous_machine_is_the_capable_cpus():
    r = gate(_cond("ConditionCPUFeature=avx512f"), machine=_machine(HETERO), affinity=range(5))
    assert r.action == "start"
    assert r.cpus == {0, 1}  # unknown CPU 4 is never promised
    assert r.required_features == ("avx512f",)


def test_pin_set_is_limited_to_the_affinity_mask():
    r = gate(_cond("ConditionCPUFeature=avx2"), machine=_machine(HETERO), affinity={1, 3})
    assert (r.action, r.cpus) == ("start", {1, 3})
    r = gate(_cond("ConditionCPUFeature=avx512f"), machine=_machine(HETERO), affinity={2, 3})
    assert r.action == "skip" and r.cpus == frozenset()
    assert "2-3" in r.reason and "avx512f" in r.reason


def test_every_required_feature_on_the_same_cpu():
    m = _machine({0: {"avx2"}, 1: {"avx512f"}})
    r = gate(_cond("ConditionCPUFeature=avx2", "ConditionCPUFeature=avx512f"), machine=m, affinity={0, 1})
    assert r.action == "skip"  # no single CPU has both


def test_no_pin_cpus_evaluates_on_every_cpu_of_the_mask():
    r = gate(
        _cond("ConditionCPUFeature=avx512f"), pin_cpus=False, machine=_machine(HETERO), affinity={0, 1, 2}
    )
    assert r.action == "skip" and r.cpus is None


def test_negated_feature_is_checked_on_the_pinned_cpus():
    conds = _cond("ConditionCPUFeature=avx2", "ConditionCPUFeature=!avx512f")
    r = gate(conds, machine=_machine(HETERO), affinity={0, 1})
    # pinned to 0,1 (avx2); both have avx512f -> the negated condition fails there
    assert r.action == "skip"
    r = gate(conds, machine=_machine(HETERO), affinity={2, 3})
    assert (r.action, r.cpus) == ("start", {2, 3})


def test_assert_cpu_feature_failure_is_assert_failed():
    r = gate(_cond("AssertCPUFeature=avx512f"), pin_cpus=False, machine=_machine(HETERO), affinity={2})
    assert r.action == "assert-failed"


def test_assert_cpu_feature_alone_does_not_turn_pinning_on():
    m = _machine({0: {"avx2", "avx512f"}, 1: {"avx2"}})
    r = gate(_cond("AssertCPUFeature=avx2"), machine=m, affinity={0, 1})
    assert (r.action, r.cpus) == ("start", None)
    r = gate(_cond("AssertCPUFeature=avx512f"), machine=m, affinity={0, 1})
    assert (r.action, r.cpus) == ("assert-failed", None)  # CPU 1 lacks it: every CPU counts


def test_pin_set_includes_assert_features_and_empty_set_by_assert_is_assert_failed():
    m = _machine(HETERO)
    r = gate(_cond("ConditionCPUFeature=avx2", "AssertCPUFeature=avx512f"), machine=m, affinity=range(5))
    assert (r.action, r.cpus) == ("start", {0, 1})
    assert r.required_features == ("avx2", "avx512f")
    # no CPU of the mask has the assert's feature
    r = gate(_cond("ConditionCPUFeature=avx2", "AssertCPUFeature=avx512f"), machine=m, affinity={2, 3})
    assert (r.action, r.cpus) == ("assert-failed", frozenset())
    assert "avx512f" in r.reason
    r = gate(_cond("AssertCPUFeature=avx512f"), pin_cpus=True, machine=m, affinity={2, 3})
    assert r.action == "assert-failed"
    # the assert's feature exists, but not on the CPUs the condition leaves
    m2 = _machine({0: {"avx2"}, 1: {"avx512f"}})
    r = gate(_cond("ConditionCPUFeature=avx2", "AssertCPUFeature=avx512f"), machine=m2, affinity={0, 1})
    assert r.action == "assert-failed"
    # the condition's feature is missing, the assert's is there: a skip
    r = gate(_cond("ConditionCPUFeature=avx512f", "AssertCPUFeature=avx2"), machine=m, affinity={2, 3})
    assert (r.action, r.cpus) == ("skip", frozenset())


def test_capture_without_pinning_counts_only_the_cpus_of_the_mask():
    m = _machine(HETERO)  # affinity None, as in a `cpuid -r` capture: it describes its own CPUs
    r = gate(_cond("ConditionCPUFeature=avx512f"), pin_cpus=False, machine=m, affinity={0, 1})
    assert (r.action, r.cpus) == ("start", None)  # CPUs 2-4 of the capture are not ours
    r = gate(_cond("AssertCPUFeature=avx512f"), machine=m, affinity={0, 1})  # an assert alone: no pin
    assert (r.action, r.cpus) == ("start", None)
    r = gate(_cond("ConditionCPUFeature=avx512f"), pin_cpus=False, machine=m, affinity={1, 2})
    assert r.action == "skip" and "2" in r.reason  # CPU 2 is ours and lacks it
    # CPUs of the mask the capture lacks are left out, as the pin set leaves them out
    r = gate(_cond("ConditionCPUFeature=avx512f"), pin_cpus=False, machine=m, affinity={0, 1, 7})
    assert (r.action, r.cpus) == ("start", None)
    # no CPU of the mask is in the capture: nothing to check against, the condition fails
    r = gate(_cond("ConditionCPUFeature=sse2"), pin_cpus=False, machine=m, affinity={7, 8})
    assert r.action == "skip" and "7-8" in r.reason
    r = gate(_cond("ConditionCPUFeature=sse2"), machine=m, affinity={7, 8})
    assert r.action == "skip" and "7-8" in r.reason  # same verdict with pinning
    # a negated feature with --pin-cpus and nothing required: still only the mask's CPUs count
    r = gate(_cond("ConditionCPUFeature=!avx512f"), pin_cpus=True, machine=m, affinity={2, 3})
    assert (r.action, r.cpus) == ("start", {2, 3})


def _capture(tmp_path, per_cpu_dump_files: list[str], numbers: list[int] | None = None) -> str:
    """A heterogeneous `cpuid -r` capture: CPU blocks from different real dumps, renumbered
    0, 1, ... or as ``numbers`` says."""
    dumps = str(Path(__file__).resolve().parents[2] / "data" / "cpuid-dumps")
    from config_reloader.cpu.capture import parse_cpuid_r

    out: list[str] = []
    for n, name in zip(numbers or range(len(per_cpu_dump_files)), per_cpu_dump_files, strict=True):
        with open(os.path.join(dumps, name), encoding="utf-8") as f:
            text = f.read()
        first = parse_cpuid_r(text, source=name)[min(parse_cpuid_r(text, source=name))]
        out.append(f"CPU {n}:")
        for (leaf, sub), (a, b, c, d) in sorted(first.items()):
            out.append(
                f"   0x{leaf:08x} 0x{sub:02x}: eax=0x{a:08x} ebx=0x{b:08x} ecx=0x{c:08x} edx=0x{d:08x}"
            )
    path = tmp_path / "hetero.txt"
    path.write_text("\n".join(out) + "\n")
    return str(path)


def test_pin_set_from_heterogeneous_capture(tmp_path):
    from config_reloader.cpu import load_capture

    path = _capture(tmp_path, ["intel-sapphirerapids-xeon-w7-2475x.txt", "intel-ivybridge-celeron-g1610.txt"])
    m = load_capture(path)
    r = gate(_cond("ConditionCPUFeature=avx2"), machine=m, affinity={0, 1})
    assert (r.action, r.cpus) == ("start", {0})
    r = gate(_cond("ConditionCPUFeature=sse4_2"), machine=m, affinity={0, 1})
    assert (r.action, r.cpus) == ("start", {0, 1})


# --- through the CLI ------------------------------------------------------------------------------
def _missing_feature() -> str:
    m = probe_machine()
    have = set.union(*(set(c.usable) for c in m.cpus.values() if c is not None))
    for name in ("amx_tile", "avx512_fp16", "avx512_bf16", "avx512_vp2intersect", "sha_ni", "avx512f"):
        if name not in have:
            return name
    pytest.skip("this CPU has every candidate feature")


def test_failing_condition_skips_with_exit_0(run_cli):
    rp = run_cli("--condition", "ConditionPathExists=/nonexistent/x")
    assert rp.wait_exit() == 0
    assert not rp.state.exists()  # never started
    assert "not starting (skipped)" in rp.log()


def test_failing_cpu_feature_condition_skips_with_skip_exit_code(run_cli):
    rp = run_cli("--condition", f"ConditionCPUFeature={_missing_feature()}", "--skip-exit-code", "77")
    assert rp.wait_exit() == 77
    assert not rp.state.exists()


def test_failing_assert_exits_1(run_cli):
    rp = run_cli("--assert", "AssertPathExists=/nonexistent/x")
    assert rp.wait_exit() == 1
    assert not rp.state.exists()
    assert "assert failed" in rp.log()


@pytest.mark.parametrize("pin", [[], ["--pin-cpus"]])
def test_failing_cpu_feature_assert_exits_1_not_skip(run_cli, pin):
    rp = run_cli(*pin, "--assert", f"AssertCPUFeature={_missing_feature()}", "--skip-exit-code", "77")
    assert rp.wait_exit() == 1
    assert not rp.state.exists()
    assert "assert failed" in rp.log()
    assert "skipped" not in rp.log()


def test_passing_cpu_feature_assert_does_not_pin(run_cli):
    rp = run_cli("--assert", "AssertCPUFeature=sse2", service=["--exit-after-ms", "10"])
    assert rp.wait_exit() == 0
    assert rp.state.exists()
    assert "pinning the child" not in rp.log()


@pytest.mark.parametrize(
    "args",
    [
        ["--condition", "ConditionCPUFeature=avx512fx"],  # unknown feature: systemd says false, we say why
        ["--condition", "ConditionNoSuchType=1"],
        ["--condition", "AssertPathExists=/"],  # an assert given to --condition
        ["--stop-timeout", "soon"],
    ],
)
def test_input_errors_exit_2(run_cli, args):
    rp = run_cli(*args)
    assert rp.wait_exit() == 2
    assert not rp.state.exists()
    assert "error" in rp.log()


def test_conditions_from_unit_file(run_cli, tmp_path):
    unit = tmp_path / "svc.service"
    unit.write_text(
        "[Unit]\nDescription=x\nConditionPathExists=/nonexistent/y\n[Service]\nExecStart=/bin/true\n"
    )
    rp = run_cli("--unit", str(unit))
    assert rp.wait_exit() == 0
    assert not rp.state.exists()
    # an empty assignment on the command line resets the unit's conditions, as in a drop-in
    rp = run_cli(
        "--unit", str(unit), "--condition", "ConditionPathExists=", service=["--exit-after-ms", "10"]
    )
    assert rp.wait_exit() == 0
    assert rp.state.exists()


@pytest.mark.skipif(
    shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2, reason="needs taskset and 2 CPUs"
)
def test_child_stays_within_cpu_1_under_taskset(run_cli):
    rp = run_cli(
        "--condition",
        "ConditionCPUFeature=sse2",
        "--restart",
        "on-failure",
        "--restart-delay",
        "0",
        prefix=["taskset", "-c", "1"],
        service=["--term-exit-code", "0"],
    )
    st = rp.wait_state(lambda s: s["ready"], what="service ready")
    assert st["cpus_allowed_list"] == "1"
    assert "pinning the child" in rp.log() and "cpus=1" in rp.log()
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_cpu_data_capture_pins_to_capable_cpus(run_cli, tmp_path):
    """--cpu-data with a heterogeneous capture: CPU 0 has AVX2, CPU 1 does not -> pinned to 0."""
    path = _capture(tmp_path, ["intel-sapphirerapids-xeon-w7-2475x.txt", "intel-ivybridge-celeron-g1610.txt"])
    rp = run_cli(
        "--cpu-data", path, "--condition", "ConditionCPUFeature=avx2", service=["--exit-after-ms", "10"]
    )
    assert rp.wait_exit() == 0
    assert rp.read_state()["cpus_allowed_list"] == "0"
    rp = run_cli("--cpu-data", path, "--condition", "ConditionCPUFeature=avx2", prefix=["taskset", "-c", "1"])
    assert rp.wait_exit() == 0  # skipped: the only capable CPU is outside our mask
    assert not rp.state.exists()


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset")
@pytest.mark.parametrize(
    ("gate_args", "fails_with"),
    [
        (["--no-pin-cpus", "--condition", "ConditionCPUFeature=avx2"], 0),  # skipped
        (["--assert", "AssertCPUFeature=avx2"], 1),  # an assert alone does not pin either
    ],
)
def test_cpu_data_without_pinning_counts_only_the_cpus_of_the_mask(run_cli, tmp_path, gate_args, fails_with):
    """A capture whose CPU ``cpu`` has AVX2 and CPU ``cpu + 1`` has not; run under ``taskset -c
    cpu``: the CPU without AVX2 is not in the mask, so it does not count, pinned or not."""
    mask = os.sched_getaffinity(0)
    cpu = min(mask)
    path = _capture(
        tmp_path,
        ["intel-sapphirerapids-xeon-w7-2475x.txt", "intel-ivybridge-celeron-g1610.txt"],
        numbers=[cpu, cpu + 1],
    )
    rp = run_cli(
        "--cpu-data", path, *gate_args, prefix=["taskset", "-c", str(cpu)], service=["--exit-after-ms", "10"]
    )
    assert rp.wait_exit() == 0, rp.log()
    assert rp.state.exists()  # started
    assert rp.read_state()["cpus_allowed_list"] == str(cpu)  # taskset's mask, not a pin set
    assert "pinning the child" not in rp.log()
    if cpu + 1 in mask:  # with both CPUs in the mask, the one without AVX2 counts
        rp = run_cli("--cpu-data", path, *gate_args, prefix=["taskset", "-c", f"{cpu},{cpu + 1}"])
        assert rp.wait_exit() == fails_with, rp.log()
        assert not rp.state.exists()
