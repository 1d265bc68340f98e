"""Virtualization detection order (systemd-detect-virt's), with the sources faked."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from config_reloader.conditions import virt


@pytest.fixture(autouse=True)
def _no_cache() -> Iterator[None]:
    virt.detect_container.cache_clear()
    virt.detect_vm.cache_clear()
    yield
    virt.detect_container.cache_clear()
    virt.detect_vm.cache_clear()


def fake_files(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, str], exists: frozenset[str] = frozenset()
) -> None:
    monkeypatch.setattr(virt, "_read", lambda path: files.get(path))
    # virt.os.path is this os.path (modules are shared)
    monkeypatch.setattr(os.path, "exists", lambda path: path in exists or path in files)


def regs(sig: bytes) -> tuple[int, int, int, int]:
    return (0x40000001, *(int.from_bytes(sig[i : i + 4], "little") for i in (0, 4, 8)))  # type: ignore[return-value]


def test_kvm_by_cpuid(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_files(monkeypatch, {"/run/systemd/container": ""})
    leaves = {1: (0, 0, 1 << 31, 0), 0x40000000: regs(b"KVMKVMKVM\0\0\0")}
    monkeypatch.setattr(virt, "_cpuid", lambda leaf, subleaf=0: leaves.get(leaf))
    assert virt.detect_vm() == "kvm"
    assert virt.detect_container() == "none"
    assert virt.detect_virtualization() == "kvm"


def test_container_wins_over_vm(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_files(monkeypatch, {"/run/systemd/container": "podman\n"})
    monkeypatch.setattr(
        virt, "_cpuid", lambda leaf, subleaf=0: (0, 0, 1 << 31, 0) if leaf == 1 else regs(b"KVMKVMKVM\0\0\0")
    )
    assert virt.detect_virtualization() == "podman"


def test_dockerenv_and_unknown_container_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    fake_files(monkeypatch, {}, exists=frozenset({"/.dockerenv"}))
    assert virt.detect_container() == "docker"
    virt.detect_container.cache_clear()
    fake_files(monkeypatch, {"/run/systemd/container": "something-new"})
    assert virt.detect_container() == "container-other"


def test_trusted_dmi_vendor_beats_cpuid_and_hyperv_defers_to_dmi(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_files(monkeypatch, {"/sys/class/dmi/id/sys_vendor": "Amazon EC2\n"})
    monkeypatch.setattr(
        virt, "_cpuid", lambda leaf, subleaf=0: (0, 0, 1 << 31, 0) if leaf == 1 else regs(b"KVMKVMKVM\0\0\0")
    )
    assert virt.detect_vm() == "amazon"
    virt.detect_vm.cache_clear()
    fake_files(monkeypatch, {"/sys/class/dmi/id/sys_vendor": "QEMU\n"})
    monkeypatch.setattr(
        virt, "_cpuid", lambda leaf, subleaf=0: (0, 0, 1 << 31, 0) if leaf == 1 else regs(b"Microsoft Hv")
    )
    assert virt.detect_vm() == "qemu"


def test_bare_metal(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_files(monkeypatch, {"/proc/cpuinfo": "flags\t: fpu sse2\n"})
    monkeypatch.setattr(virt, "_cpuid", lambda leaf, subleaf=0: (0, 0, 0, 0))
    assert virt.detect_vm() == "none"
