"""Virtualization detection the way ``systemd-detect-virt`` does it (for ``ConditionVirtualization=``).

Order and sources follow systemd src/basic/virt.c (v252), described in our own words:

* container first (a container inside a VM answers the container): OpenVZ (``/proc/vz`` without
  ``/proc/bc``), WSL (``Microsoft``/``WSL`` in ``/proc/sys/kernel/osrelease``), proot (tracer
  process named ``proot``), then ``/run/systemd/container`` or ``container=`` in PID 1's
  environment, then ``/run/.containerenv`` (podman) and ``/.dockerenv`` (docker);
* then VM: DMI vendors that are trusted even on KVM (Oracle, Xen, Amazon, Parallels), then the
  CPUID hypervisor bit (leaf 1 ECX[31]) and vendor signature (leaf 0x40000000 EBX,ECX,EDX), then
  the other DMI vendors, then ``/sys/hypervisor/type``; a hypervisor bit with no known vendor is
  ``vm-other``.

CPUID is executed in-process through the cpu package's stub, else read through
``/dev/cpu/0/cpuid`` (root, ``cpuid`` kernel module); without either the ``hypervisor`` token of
``/proc/cpuinfo`` stands in for the hypervisor bit (the vendor is then taken from DMI or reported
as ``vm-other``).
"""

from __future__ import annotations

import os
from functools import lru_cache

__all__ = [
    "CONTAINER_IDS",
    "VM_IDS",
    "detect_container",
    "detect_virtualization",
    "detect_vm",
    "running_in_userns",
]

#: systemd 252's VM ids (``systemd-detect-virt --list``), in its order.
VM_IDS: tuple[str, ...] = (
    "kvm", "amazon", "qemu", "bochs", "xen", "uml", "vmware", "oracle", "microsoft", "zvm",
    "parallels", "bhyve", "qnx", "acrn", "powervm", "apple", "sre", "google", "vm-other",
)  # fmt: skip
#: systemd 252's container ids.
CONTAINER_IDS: tuple[str, ...] = (
    "systemd-nspawn", "lxc-libvirt", "lxc", "openvz", "docker", "podman", "rkt", "wsl", "proot",
    "pouch", "container-other",
)  # fmt: skip

_CPUID_VENDORS = {
    b"XenVMMXenVMM": "xen",
    b"KVMKVMKVM\0\0\0": "kvm",
    b"Linux KVM Hv": "kvm",
    b"TCGTCGTCGTCG": "qemu",
    b"VMwareVMware": "vmware",
    b"Microsoft Hv": "microsoft",
    b"bhyve bhyve ": "bhyve",
    b"QNXQVMBSQG\0\0": "qnx",
    b"ACRNACRNACRN": "acrn",
    b"SRESRESRESRE": "sre",
}

_DMI_VENDORS = (
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Oracle Corporation", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Apple Virtualization", "apple"),
    ("Google Compute Engine", "google"),
)

_CONTAINER_VALUES = {
    "lxc": "lxc",
    "lxc-libvirt": "lxc-libvirt",
    "systemd-nspawn": "systemd-nspawn",
    "docker": "docker",
    "podman": "podman",
    "rkt": "rkt",
    "wsl": "wsl",
    "proot": "proot",
    "pouch": "pouch",
}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


@lru_cache(maxsize=1)
def detect_container() -> str:
    """Return the container id (``"docker"``, ``"podman"``, …) or ``"none"``."""
    if _exists("/proc/vz") and not _exists("/proc/bc"):
        return "openvz"
    osrelease = _read("/proc/sys/kernel/osrelease") or ""
    if "Microsoft" in osrelease or "WSL" in osrelease:
        return "wsl"
    status = _read("/proc/self/status") or ""
    for line in status.splitlines():
        if line.startswith("TracerPid:"):
            pid = line.split(":", 1)[1].strip()
            if pid not in ("", "0") and (_read(f"/proc/{pid}/comm") or "").startswith("proot"):
                return "proot"
            break
    value: str | None = None
    if os.getpid() == 1:
        value = os.environ.get("container")  # noqa: SIM112 (the name systemd and podman use)
    else:
        run = _read("/run/systemd/container")
        if run is not None:
            value = run.strip()
        else:
            for item in _read_bytes("/proc/1/environ").split(b"\0"):
                if item.startswith(b"container="):
                    value = item[len(b"container=") :].decode(errors="replace")
                    break
    if value is None:
        if _exists("/run/.containerenv"):
            return "podman"
        if _exists("/.dockerenv"):
            return "docker"
        return "none"
    if value == "":
        return "none"
    return _CONTAINER_VALUES.get(value, "container-other")


def _cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int] | None:
    """CPUID on this CPU: the cpu package's C extension or in-process stub (no root needed),
    else ``/dev/cpu/0/cpuid`` (root), else ``None``."""
    from config_reloader.cpu.native import NativeCpuid
    from config_reloader.cpu.stub import StubCpuid

    for provider in (NativeCpuid, StubCpuid):
        try:
            return provider().cpuid(leaf, subleaf)
        except Exception:  # not built, not x86-64, executable memory refused: try the next one
            continue
    try:
        fd = os.open("/dev/cpu/0/cpuid", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.pread(fd, 16, leaf | (subleaf << 32))
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) != 16:
        return None
    return (
        int.from_bytes(data[0:4], "little"),
        int.from_bytes(data[4:8], "little"),
        int.from_bytes(data[8:12], "little"),
        int.from_bytes(data[12:16], "little"),
    )


def _cpuinfo_has_hypervisor() -> bool:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith("flags"):
            return "hypervisor" in line.split(":", 1)[1].split()
    return False


def _vm_cpuid() -> str | None:
    """``None`` when CPUID cannot be read; ``"none"`` when the hypervisor bit is clear."""
    leaf1 = _cpuid(1)
    if leaf1 is None:
        return None if not _cpuinfo_has_hypervisor() else "vm-other?"
    if not leaf1[2] & (1 << 31):
        return "none"
    regs = _cpuid(0x40000000)
    if regs is None:
        return "vm-other"
    sig = b"".join(r.to_bytes(4, "little") for r in regs[1:])
    return _CPUID_VENDORS.get(sig, "vm-other")


def _vm_dmi() -> str:
    for name in ("product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version"):
        value = _read(f"/sys/class/dmi/id/{name}")
        if not value:
            continue
        for prefix, vid in _DMI_VENDORS:
            if value.startswith(prefix):
                return vid
    return "none"


@lru_cache(maxsize=1)
def detect_vm() -> str:
    """Return the VM id (``"kvm"``, ``"qemu"``, …), ``"vm-other"`` or ``"none"``."""
    dmi = _vm_dmi()
    if dmi in ("oracle", "xen", "amazon", "parallels"):
        return dmi
    if "User Mode Linux" in (_read("/proc/cpuinfo") or ""):
        return "uml"
    cpuid = _vm_cpuid()
    other = False
    if cpuid == "microsoft":
        other = True  # QEMU with Hyper-V enlightenments also says so: let DMI decide first
    elif cpuid == "vm-other?":
        other = True
    elif cpuid not in (None, "none"):
        return cpuid
    if dmi != "none":
        return dmi
    hv = (_read("/sys/hypervisor/type") or "").strip()
    if hv == "xen":
        return "xen"
    if cpuid == "microsoft":
        return "microsoft"
    return "vm-other" if other else "none"


def detect_virtualization() -> str:
    """The container id if in a container, else the VM id, else ``"none"`` (systemd-detect-virt)."""
    c = detect_container()
    return c if c != "none" else detect_vm()


def running_in_userns() -> bool:
    """True if this process runs in a user namespace other than the initial one.

    Source: the initial namespace's ``/proc/self/uid_map`` is ``0 0 4294967295``.
    """
    text = _read("/proc/self/uid_map")
    if text is None:
        return False
    fields = text.split()
    return fields != ["0", "0", "4294967295"]
