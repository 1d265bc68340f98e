"""This machine's live probe: backends agree, the in-process backends match `cpuid -r`, MDWE refuses
the stub (not the C extension) and the probe falls back."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import textwrap

import childproc
import pytest

from config_reloader.cpu import BACKENDS, check_features, native, probe_machine
from config_reloader.cpu import features as ft
from config_reloader.cpu.capture import parse_cpuid_r
from config_reloader.cpu.probe import read_proc_cpuinfo, systemd_has_feature
from config_reloader.cpu.topology import masked_leaves
from config_reloader.errors import BackendUnavailable

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 live probe")
RAW = ("cpuid-native", "cpuid-stub", "dev-cpu")  # backends that read every CPUID leaf of every CPU

# Leaves glibc keeps (sys/platform/x86.h CPUID_INDEX_*).
GLIBC_LEAVES = {(1, 0), (7, 0), (0x80000001, 0), (0xD, 1), (0x80000007, 0), (0x80000008, 0), (7, 1)}


def _probe(backend: str):
    try:
        return probe_machine(backend=backend)
    except BackendUnavailable as exc:
        return exc


@pytest.fixture(scope="module")
def machines() -> dict[str, object]:
    return {b: _probe(b) for b in BACKENDS}


def test_default_probe_answers_every_cpu_in_affinity() -> None:
    m = probe_machine()
    assert m.backend in BACKENDS
    assert m.affinity == frozenset(os.sched_getaffinity(0))
    for c in m.affinity:
        assert m.cpus[c] is not None, f"CPU {c} in our affinity is unknown ({m.notes})"
    # sse2 is part of the x86-64 baseline: every known CPU has it in every view
    assert check_features(m, ["sse2"]).result is True


def test_backends_agree(machines: dict[str, object]) -> None:
    working = {b: m for b, m in machines.items() if not isinstance(m, BackendUnavailable)}
    assert working, machines
    stub = next((working[b] for b in RAW if b in working), None)
    if stub is None:
        pytest.skip(f"neither raw CPUID backend works here: {machines}")
    for b, m in working.items():
        for cpu, f in m.cpus.items():  # type: ignore[attr-defined]
            ref = stub.cpus.get(cpu)  # type: ignore[attr-defined]
            if f is None or ref is None:
                continue
            if b in RAW:
                assert masked_leaves(f.leaves) == masked_leaves(ref.leaves), (b, cpu)
                assert f.cpu_view == ref.cpu_view, (b, cpu)
                assert f.usable == ref.usable, (b, cpu, f.xcr0, ref.xcr0)
            elif b == "glibc":
                seen = {x.name for x in ft.X86_FEATURES if (x.leaf, x.subleaf) in GLIBC_LEAVES}
                assert f.cpu_view & seen == ref.cpu_view & seen, cpu
                assert f.usable & seen == ref.usable & seen, cpu
            else:  # proc-cpuinfo: a CPUID-based kernel flag is never set without the CPUID bit
                cpuid_based = {x.name for x in ft.X86_FEATURES if x.leaf is not None} - {"constant_tsc"}
                assert (f.kernel or set()) & cpuid_based <= ref.cpu_view, cpu
            assert f.kernel == ref.kernel


def test_kernel_view_is_proc_cpuinfo() -> None:
    m = probe_machine()
    flags = read_proc_cpuinfo()
    for cpu, f in m.cpus.items():
        if f is None or cpu not in flags:
            continue
        assert f.kernel is not None
        assert {ft.kernel_token_to_name(t) or t for t in flags[cpu]} == f.kernel
        # osxsave is hidden by the kernel; pclmul/fma3 are systemd spellings of pclmulqdq/fma
        assert "osxsave" not in f.kernel


def test_the_c_extension_is_built() -> None:
    """The README's install commands build it (gcc, python3-dev); without it the probe still works
    through ctypes, slower to start and refused under MemoryDenyWriteExecute."""
    assert native.available(), (
        "config_reloader.cpu._cpuid is missing: install gcc and python3-dev, then reinstall "
        "(pip install -e .) to build it"
    )
    assert probe_machine().backend == "cpuid-native"


@pytest.mark.skipif(shutil.which("cpuid") is None, reason="`cpuid` (Debian package cpuid) not installed")
@pytest.mark.parametrize("backend", ["cpuid-native", "cpuid-stub"])
def test_in_process_cpuid_matches_cpuid_r(backend: str) -> None:
    try:
        m = probe_machine(backend=backend)
    except BackendUnavailable as exc:
        pytest.skip(f"{backend} unavailable here: {exc}")
    proc = childproc.run(["cpuid", "-r"], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cpuid -r failed: {proc.stderr.strip()}")
    dump = parse_cpuid_r(proc.stdout, source="cpuid -r")
    compared = 0
    for cpu, f in m.cpus.items():
        if f is None or cpu not in dump:
            continue
        theirs = masked_leaves(dump[cpu])
        ours = masked_leaves(f.leaves)
        for key, regs in ours.items():
            if key in theirs:
                assert regs == theirs[key], (cpu, hex(key[0]), key[1])
                compared += 1
    assert compared >= 8


def test_every_systemd_name_decodes_like_the_raw_table() -> None:
    try:
        m = probe_machine(backend="cpuid-stub")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    cur = m.current_cpu
    # systemd_has_feature runs on whatever CPU this thread is on; the views are identical here
    views = {f.cpu_view for f in m.cpus.values() if f is not None}
    if len(views) != 1 or cur is None:
        pytest.skip("CPUs differ; the current-CPU comparison would race with migration")
    (view,) = views
    for name in ft.SYSTEMD_X86_NAMES:
        canon = next(f.name for f in ft.X86_FEATURES if f.systemd_name == name)
        assert systemd_has_feature(name) == (canon in view), name
        assert systemd_has_feature(name.upper()) == (canon in view), name
    assert systemd_has_feature("avx512f") is False  # unknown to systemd 252: silently false
    assert systemd_has_feature("x86-64.avx2") is False


_MDWE_CHILD = textwrap.dedent("""
    import ctypes, json, sys
    if sys.argv[1] == "without-extension":  # as in a pure-Python install: the import fails
        sys.modules["config_reloader.cpu._cpuid"] = None
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print(json.dumps({"mdwe": False, "errno": ctypes.get_errno()})); sys.exit(0)
    from config_reloader.cpu.stub import StubCpuid
    from config_reloader.cpu import probe_machine, check_features
    from config_reloader.errors import BackendUnavailable
    try:
        StubCpuid(); refused = None
    except BackendUnavailable as exc:
        refused = exc.reason
    m = probe_machine()
    print(json.dumps({"mdwe": True, "refused": refused, "backend": m.backend, "notes": list(m.notes),
                      "sse2": check_features(m, ["sse2"]).result}))
""")


def _under_mdwe(extension: str) -> dict[str, object]:
    proc = childproc.run(
        [sys.executable, "-c", _MDWE_CHILD, extension],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out["mdwe"]:
        pytest.skip(f"PR_SET_MDWE not supported by this kernel (errno {out['errno']})")
    assert out["refused"] in ("EACCES", "EPERM")
    return out


def test_mdwe_refuses_stub_but_not_the_c_extension() -> None:
    if not native.available():
        pytest.skip("the C extension is not built here")
    out = _under_mdwe("with-extension")
    assert out["backend"] == "cpuid-native"
    assert out["sse2"] is True  # every CPU answered, as without MDWE


def test_mdwe_without_extension_refuses_stub_and_probe_falls_back() -> None:
    out = _under_mdwe("without-extension")
    assert out["backend"] not in ("cpuid-native", "cpuid-stub")
    assert any("cpuid-native unavailable" in n and "not installed" in n for n in out["notes"])  # type: ignore[attr-defined]
    assert any("cpuid-stub unavailable" in n for n in out["notes"])  # type: ignore[attr-defined]
    if os.geteuid() == 0:  # /dev/cpu/N/cpuid answers for every CPU
        assert out["sse2"] is True
    else:  # glibc's view covers the current CPU only: the others stay unknown, never false
        assert out["sse2"] in (True, None) and out["backend"] in ("glibc", "proc-cpuinfo")


def test_unpinnable_cpus_are_unknown() -> None:
    aff = os.sched_getaffinity(0)
    bogus = max(aff) + 1024
    m = probe_machine(cpus=[min(aff), bogus], backend="cpuid-stub") if _stub_ok() else None
    if m is None:
        pytest.skip("stub unavailable")
    assert m.cpus[bogus] is None and m.cpus[min(aff)] is not None
    assert any("could not be pinned" in n for n in m.notes)


def _stub_ok() -> bool:
    try:
        from config_reloader.cpu.stub import StubCpuid

        StubCpuid()
        return True
    except BackendUnavailable:
        return False


@pytest.mark.skipif(os.geteuid() != 0, reason="/dev/cpu/N/cpuid needs root")
def test_dev_cpu_offline_cpu_is_unknown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A dev_root whose cpu/ dir exists but has no node for CPU 7: reported unknown, not false.
    (tmp_path / "cpu").mkdir()
    m = probe_machine(cpus=[7], backend="dev-cpu", dev_root=str(tmp_path))
    assert m.cpus == {7: None}


@pytest.mark.conformance
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_has_feature_matches_systemd_analyze() -> None:
    names = [*ft.SYSTEMD_X86_NAMES, "fma", "pclmulqdq", "avx512f", "sse3", "lzcnt", "x86-64.avx2"]
    for name in names:
        proc = childproc.run(
            ["systemd-analyze", "condition", f"ConditionCPUFeature={name}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if "ConditionCPUFeature=" not in proc.stderr:
            pytest.skip(f"systemd-analyze condition unusable here: {proc.stderr.strip()}")
        assert systemd_has_feature(name) == (proc.returncode == 0), (name, proc.stderr)
