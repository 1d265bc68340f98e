"""probe_machine with injected /proc and /sys roots, and the arm64 branch with injected HWCAPs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config_reloader.cpu import check_features, hwcaps, pin_set, probe_machine
from config_reloader.cpu import probe as probe_mod


def _roots(tmp_path: Path, cpuinfo: str, possible: str) -> tuple[str, str]:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cpuinfo").write_text(cpuinfo)
    cpu = tmp_path / "sys/devices/system/cpu"
    cpu.mkdir(parents=True)
    (cpu / "possible").write_text(possible + "\n")
    (cpu / "online").write_text(possible + "\n")
    return str(proc), str(tmp_path / "sys")


@pytest.fixture
def x86(monkeypatch: pytest.MonkeyPatch) -> None:
    """The x86 branch, whatever this machine is (the proc-cpuinfo backend needs no CPUID)."""
    monkeypatch.setattr(probe_mod, "machine_arch", lambda machine=None: "x86-64")


@pytest.mark.usefixtures("x86")
def test_proc_cpuinfo_backend_per_cpu_and_unknown(tmp_path: Path) -> None:
    aff = sorted(os.sched_getaffinity(0))
    a, b = aff[0], aff[-1] if len(aff) > 1 else aff[0] + 1
    info = (
        f"processor\t: {a}\nflags\t\t: fpu sse sse2 avx avx2 xsave rep_good\n\n"
        f"processor\t: {b}\nflags\t\t: fpu sse sse2 xsave\n\n"
    )
    proc, sysfs = _roots(tmp_path, info, f"0-{max(a, b) + 2}")
    m = probe_machine(backend="proc-cpuinfo", proc_root=proc, sysfs_root=sysfs)
    assert m.backend == "proc-cpuinfo"
    assert any("approximated" in n for n in m.notes)
    fa, fb = m.cpus[a], m.cpus[b]
    assert fa is not None and fb is not None
    assert "avx2" in fa.kernel and "avx2" not in fb.kernel  # type: ignore[operator]
    assert "rep_good" in fa.kernel  # type: ignore[operator]
    assert m.cpus[max(a, b) + 2] is None  # possible but not in cpuinfo: unknown
    chk = check_features(m, ["avx2"], view="kernel")
    assert chk.per_cpu[a] is True and chk.per_cpu[b] is False
    assert a in pin_set(m, ["avx2"], view="kernel")


@pytest.mark.usefixtures("x86")
def test_proc_cpuinfo_missing_is_backend_unavailable(tmp_path: Path) -> None:
    from config_reloader.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable):
        probe_machine(backend="proc-cpuinfo", proc_root=str(tmp_path / "nope"), sysfs_root=str(tmp_path))


def test_unknown_backend_name() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        probe_machine(backend="cpuid-magic")


def test_backend_of_the_other_architecture_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """An x86 backend on arm64 was silently ignored (found running under qemu-aarch64)."""
    monkeypatch.setattr(probe_mod, "machine_arch", lambda machine=None: "arm64")
    with pytest.raises(ValueError, match="cannot run on arm64"):
        probe_machine(backend="cpuid-stub")
    monkeypatch.setattr(probe_mod, "machine_arch", lambda machine=None: "x86-64")
    with pytest.raises(ValueError, match="hwcaps is for arm64"):
        probe_machine(backend="hwcaps")


def test_arm64_under_qemu_user_ignores_the_hosts_x86_cpuinfo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """qemu-user (Debian 12's 7.2) shows the host's /proc/cpuinfo, x86 `flags` lines: they are not
    the arm64 process's features (they were read as the kernel view: `aes` and `cpuid` "yes")."""
    aff = sorted(os.sched_getaffinity(0))
    info = "".join(
        f"processor\t: {c}\nmodel name\t: AMD EPYC\nflags\t\t: fpu aes cpuid sse2\n\n" for c in aff
    )
    proc, sysfs = _roots(tmp_path, info, f"0-{max(aff)}")
    monkeypatch.setattr(probe_mod, "machine_arch", lambda machine=None: "arm64")
    monkeypatch.setattr(hwcaps, "read_auxv_hwcaps", lambda getauxval=None: {16: 0b1011, 26: 0, 29: 0})
    m = probe_machine(proc_root=proc, sysfs_root=sysfs)
    f = m.cpus[aff[0]]
    assert f is not None and f.kernel is None and f.usable == {"fp", "asimd", "aes"}
    assert any("no arm64 'Features' lines" in n for n in m.notes)
    assert check_features(m, ["aes"], view="kernel").result is None
    assert check_features(m, ["aes"]).result is True


def test_arm64_branch_with_injected_hwcaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aff = sorted(os.sched_getaffinity(0))
    info = "".join(f"processor\t: {c}\nFeatures\t: fp asimd sve\n\n" for c in aff)
    proc, sysfs = _roots(tmp_path, info, f"0-{max(aff)}")
    monkeypatch.setattr(probe_mod, "machine_arch", lambda machine=None: "arm64")
    monkeypatch.setattr(
        hwcaps, "read_auxv_hwcaps", lambda getauxval=None: {16: 0b11 | (1 << 22), 26: 1 << 17, 29: 0}
    )
    m = probe_machine(proc_root=proc, sysfs_root=sysfs)
    assert (m.arch, m.backend) == ("arm64", "hwcaps")
    assert check_features(m, ["sve", "arm64.bti"]).result is True
    assert check_features(m, ["x86-64.avx2"]).result is False
    assert check_features(m, ["sme"]).result is False
    assert check_features(m, ["asimd"], view="kernel").result is True


def test_machine_arch_names() -> None:
    assert probe_mod.machine_arch("x86_64") == "x86-64"
    assert probe_mod.machine_arch("aarch64") == "arm64"
    assert probe_mod.machine_arch("riscv64") == "riscv64"
