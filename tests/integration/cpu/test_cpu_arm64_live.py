"""arm64 for real: the live probe on an arm64 userland (real hardware, or Debian's qemu-user-static
running an arm64 root filesystem: tests/arm64/run.sh). Skipped on other architectures.

The oracle for the HWCAPs is glibc's dynamic loader (``LD_SHOW_AUXV=1``), which prints the auxiliary
vector the kernel (or qemu-user) gave the process; the oracle for names is the kernel's
``/proc/cpuinfo`` ``Features`` line when it is an arm64 one (qemu-user 7.2 shows the host's file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import childproc
import pytest

from config_reloader.cpu import check_features, hwcaps, microarch, probe_machine
from config_reloader.cpu.probe import read_proc_cpuinfo

pytestmark = pytest.mark.skipif(os.uname().machine != "aarch64", reason="arm64 only (see tests/arm64/run.sh)")


def cr(*args: str) -> subprocess.CompletedProcess[str]:
    return childproc.run(
        [sys.executable, "-m", "config_reloader", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def auxv_from_ld_so() -> dict[int, int]:
    out = childproc.run(
        ["/bin/true"], env={**os.environ, "LD_SHOW_AUXV": "1"}, capture_output=True, text=True, check=True
    ).stdout
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key in ("AT_HWCAP", "AT_HWCAP2", "AT_HWCAP3"):
            t = {"AT_HWCAP": hwcaps.AT_HWCAP, "AT_HWCAP2": hwcaps.AT_HWCAP2, "AT_HWCAP3": hwcaps.AT_HWCAP3}[
                key
            ]
            values[t] = int(value.strip(), 16)
    return values


def test_hwcaps_are_what_the_loader_saw() -> None:
    ours = hwcaps.read_auxv_hwcaps()
    loader = auxv_from_ld_so()
    assert loader[hwcaps.AT_HWCAP] != 0
    assert {t: ours[t] for t in loader} == loader
    m = probe_machine()
    assert (m.arch, m.backend) == ("arm64", "hwcaps")
    names = hwcaps.decode_hwcaps(loader)
    assert {"fp", "asimd"} <= names
    for f in m.cpus.values():
        assert f is not None and f.usable == names == f.cpu_view


def test_kernel_view_is_the_arm64_features_line_or_unknown() -> None:
    features = read_proc_cpuinfo(keys=("Features",))
    m = probe_machine()
    if features:  # an arm64 kernel: the Features line is printed from the same HWCAPs
        for c, f in m.cpus.items():
            if f is not None and c in features:
                assert f.kernel == frozenset(features[c]) & hwcaps.ARM64_NAMES
    else:  # qemu-user: the host's file
        assert all(f is None or f.kernel is None for f in m.cpus.values())
        assert any("no arm64 'Features' lines" in n for n in m.notes)


def test_condition_on_arm64() -> None:
    assert cr("condition", "ConditionCPUFeature=asimd").returncode == 0
    assert cr("condition", "ConditionCPUFeature=arm64.fp").returncode == 0
    r = cr("condition", "ConditionCPUFeature=avx2")
    assert r.returncode == 1 and "failed" in r.stdout  # an x86 name on arm64: false
    assert cr("condition", "ConditionCPUFeature=x86-64.sse2").returncode == 1
    assert cr("condition", "ConditionCPUFeature=!avx2").returncode == 0


def test_microarchitectures_on_arm64() -> None:
    r = cr("cpu-features", "--microarch", "--json")
    assert r.returncode == 0, r.stderr
    rows = [v for v in json.loads(r.stdout)["cpus"].values() if v is not None]
    assert rows and {v["generic"] for v in rows} == {"aarch64"}
    names = probe_machine().cpus
    have = next(f for f in names.values() if f is not None).usable
    for target in ("neoverse_n1", "neoverse_v1", "a64fx"):
        t = microarch.table()[target]
        holds = not t.missing(have)
        assert check_features(probe_machine(), [target]).result is holds
        status = cr("condition", f"ConditionCPUFeature={target.replace('_', '-')}").returncode
        assert status == (0 if holds else 1)
    assert cr("condition", "ConditionCPUFeature=skylake-avx512").returncode == 1
