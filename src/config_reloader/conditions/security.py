"""Checks of security technologies and privileges: ``Security``, ``Capability``."""

from __future__ import annotations

import errno
import os

from config_reloader.conditions.base import CheckError, Context, Outcome, read_first, read_text, syntax_error
from config_reloader.errors import NotSupportedHere

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CAPABILITIES", "SECURITY", "SECURITY_252", "check_capability", "check_security"]


# --- capabilities, security -----------------------------------------------------------------------
#: Linux capability names by number (include/uapi/linux/capability.h).
CAPABILITIES: tuple[str, ...] = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
)  # fmt: skip


def check_capability(p: str, ctx: Context) -> Outcome:
    """``ConditionCapability=``: ``CAP_…`` (case-insensitive) in the bounding set (``CapBnd`` of
    /proc/self/status)."""
    name = p.lower()
    name = name[4:] if name.startswith("cap_") else name
    if name in CAPABILITIES:
        bit = CAPABILITIES.index(name)
    elif p.isdigit() and int(p) < 64:
        bit = int(p)
    else:
        import difflib  # error path only (~1 ms)

        sugg = difflib.get_close_matches(name, CAPABILITIES, n=3)
        raise syntax_error(
            f"unknown capability {p!r}"
            + (f" (did you mean {', '.join('CAP_' + s.upper() for s in sugg)}?)" if sugg else ""),
            p,
        )
    bnd = None
    for line in read_text("/proc/self/status").splitlines():
        if line.startswith("CapBnd:"):
            bnd = int(line.split(":", 1)[1].strip(), 16)
    if bnd is None:
        raise CheckError("no CapBnd line in /proc/self/status")
    has = bool(bnd >> bit & 1)
    return Outcome(has, f"{'in' if has else 'not in'} the bounding set {bnd:#x}", {"capbnd": f"{bnd:#x}"})


_EFI_GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
SECURITY_252 = ("selinux", "apparmor", "tomoyo", "ima", "smack", "audit", "uefi-secureboot", "tpm2")
SECURITY = (*SECURITY_252, "cvm", "measured-uki")


def _efi_var(name: str) -> bytes | None:
    try:
        with open(f"/sys/firmware/efi/efivars/{name}", "rb") as f:
            return f.read()
    except OSError:
        return None


def _audit_available() -> bool:
    import socket  # ~2.5 ms, for ConditionSecurity=audit only

    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 9)  # NETLINK_AUDIT
    except OSError as exc:
        return exc.errno not in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.EPERM)
    s.close()
    return True


def _cvm() -> bool:
    try:
        text = read_text("/proc/cpuinfo")
    except CheckError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"tdx_guest", "sev_snp", "sev_es", "sev"})
    return False


def check_security(p: str, ctx: Context) -> Outcome:
    """``ConditionSecurity=``: a security technology is enabled (``selinux``, ``apparmor``,
    ``tomoyo``, ``ima``, ``smack``, ``audit``, ``uefi-secureboot``, ``tpm2``; plus ``cvm`` (TDX/SEV
    guest flags of /proc/cpuinfo) and ``measured-uki`` (the stub's EFI variable), which systemd 252
    does not know and answers false). systemd 261's ``measured-os`` is refused as not supported
    (exit status 2) rather than guessed."""
    known = SECURITY_252 if ctx.systemd_compat else SECURITY
    if p == "measured-os" and not ctx.systemd_compat:
        raise NotSupportedHere(
            "ConditionSecurity=measured-os (systemd 261) depends on how systemd decides that the "
            "OS was measured into the TPM, which is not reproduced here; measured-uki checks the "
            "UKI stub's measurement",
            type="Security",
        )
    if p not in known:
        if ctx.systemd_compat:
            return Outcome(False, f"unknown security technology {p!r} (false like systemd 252)", {})
        import difflib  # error path only (~1 ms)

        sugg = difflib.get_close_matches(p, SECURITY, n=3)
        raise syntax_error(
            f"unknown security technology {p!r}"
            + (f" (did you mean {', '.join(sugg)}?)" if sugg else "")
            + "; known: "
            + ", ".join(SECURITY),
            p,
        )
    probes: dict[str, Callable[[], bool]] = {
        "selinux": lambda: os.path.exists("/sys/fs/selinux/enforce"),
        "smack": lambda: os.path.exists("/sys/fs/smackfs/"),
        "apparmor": lambda: read_first("/sys/module/apparmor/parameters/enabled").startswith("Y"),
        "audit": _audit_available,
        "ima": lambda: os.path.exists("/sys/kernel/security/ima/"),
        "tomoyo": lambda: os.path.exists("/sys/kernel/security/tomoyo/version"),
        "uefi-secureboot": lambda: (_efi_var(f"SecureBoot-{_EFI_GLOBAL}") or b"\0\0\0\0\0")[4:5] == b"\1",
        "tpm2": lambda: (
            os.path.exists("/sys/class/tpmrm")
            and bool(os.listdir("/sys/class/tpmrm"))
            and (
                os.path.exists("/sys/firmware/acpi/tables/TPM2")
                or os.path.exists("/sys/kernel/security/tpm0")
            )
        ),
        "cvm": _cvm,
        "measured-uki": lambda: (
            _efi_var("StubPcrKernelImage-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f") is not None
        ),
    }
    v = probes[p]()
    return Outcome(v, f"{p} {'enabled' if v else 'not enabled'}", {})
