"""Checks of what machine this is: ``Architecture``, ``Virtualization``, ``Host``,
``Firmware``, ``ACPower``."""

from __future__ import annotations

import os
import re
import struct

from config_reloader.conditions.base import CheckError, Context, Outcome, read_first, read_text, syntax_error
from config_reloader.conditions.values import (
    WS,
    fnmatch,
    parse_boolean,
    parse_compare_operator,
    split_words,
    version_or_fnmatch,
)
from config_reloader.errors import ConditionSyntaxError

__all__ = [
    "ARCHITECTURES",
    "check_ac_power",
    "check_architecture",
    "check_firmware",
    "check_host",
    "check_virtualization",
    "native_architecture",
    "uname_architecture",
]


# --- architecture --------------------------------------------------------------------------------
#: systemd 252's architecture names (src/basic/architecture.c).
ARCHITECTURES: tuple[str, ...] = (
    "x86", "x86-64", "ppc", "ppc-le", "ppc64", "ppc64-le", "ia64", "parisc", "parisc64", "s390",
    "s390x", "sparc", "sparc64", "mips", "mips-le", "mips64", "mips64-le", "alpha", "arm",
    "arm-be", "arm64", "arm64-be", "sh", "sh64", "m68k", "tilegx", "cris", "arc", "arc-be",
    "riscv32", "riscv64", "loongarch64",
)  # fmt: skip

_UNAME_ARCH = (
    (r"x86_64", "x86-64"), (r"i[3-6]86", "x86"), (r"aarch64", "arm64"), (r"aarch64_be", "arm64-be"),
    (r"armv.*l|arm", "arm"), (r"armv.*b", "arm-be"), (r"ppc64le", "ppc64-le"), (r"ppc64", "ppc64"),
    (r"ppcle", "ppc-le"), (r"ppc", "ppc"), (r"s390x", "s390x"), (r"s390", "s390"),
    (r"sparc64", "sparc64"), (r"sparc", "sparc"), (r"mips64", "mips64"), (r"mips", "mips"),
    (r"alpha", "alpha"), (r"ia64", "ia64"), (r"parisc64", "parisc64"), (r"parisc", "parisc"),
    (r"sh64", "sh64"), (r"sh.*", "sh"), (r"m68k", "m68k"), (r"tilegx", "tilegx"), (r"cris.*", "cris"),
    (r"arc", "arc"), (r"arceb", "arc-be"), (r"riscv64", "riscv64"), (r"riscv32", "riscv32"),
    (r"loongarch64", "loongarch64"),
)  # fmt: skip


def uname_architecture() -> str:
    """systemd's name for ``uname -m`` (``x86_64`` → ``x86-64``, ``aarch64`` → ``arm64``)."""
    machine = os.uname().machine
    for pattern, name in _UNAME_ARCH:
        if re.fullmatch(pattern, machine):
            return name
    return machine


def native_architecture() -> str:
    """The architecture this interpreter was built for (systemd: the one systemd was compiled
    for): ``uname`` corrected for a 32-bit userspace on a 64-bit kernel."""
    arch = uname_architecture()
    if struct.calcsize("P") == 4:
        return {"x86-64": "x86", "arm64": "arm", "ppc64": "ppc", "ppc64-le": "ppc-le"}.get(arch, arch)
    return arch


def check_architecture(p: str, ctx: Context) -> Outcome:
    """``ConditionArchitecture=``: systemd architecture name or ``native`` vs ``uname(2)``
    (or the ``--cpu-data`` capture's architecture)."""
    actual = ctx.machine.arch if ctx.machine is not None else uname_architecture()
    if p == "native":
        wanted = native_architecture()
    elif p in ARCHITECTURES:
        wanted = p
    else:
        if ctx.systemd_compat:
            return Outcome(False, f"unknown architecture {p!r}", {"architecture": actual})
        import difflib  # error path only (~1 ms)

        aliases = {"amd64": "x86-64", "x86_64": "x86-64", "aarch64": "arm64", "i386": "x86", "i686": "x86"}
        sugg = [aliases[p]] if p in aliases else difflib.get_close_matches(p, ARCHITECTURES, n=3)
        raise ConditionSyntaxError(
            f"unknown architecture {p!r}"
            + (f" (did you mean {', '.join(sugg)}?)" if sugg else "")
            + "; systemd's names: "
            + ", ".join(ARCHITECTURES)
            + ", native",
            text=p,
        )
    return Outcome(actual == wanted, f"architecture is {actual}", {"architecture": actual})


# --- virtualization ------------------------------------------------------------------------------
def check_virtualization(p: str, ctx: Context) -> Outcome:
    """``ConditionVirtualization=``: boolean, ``vm``, ``container``, ``private-users`` or an id."""
    from config_reloader.conditions import virt  # ~10 ms of imports, for this type only

    if p == "private-users":
        v = virt.running_in_userns()
        return Outcome(v, "in a user namespace" if v else "not in a user namespace", {})
    actual = virt.detect_virtualization()
    detail = {"virtualization": actual}
    b = parse_boolean(p)
    if b is not None:
        return Outcome(b == (actual != "none"), f"virtualization is {actual}", detail)
    if p == "vm":
        return Outcome(actual in virt.VM_IDS, f"virtualization is {actual}", detail)
    if p == "container":
        return Outcome(actual in virt.CONTAINER_IDS, f"virtualization is {actual}", detail)
    if p not in virt.VM_IDS and p not in virt.CONTAINER_IDS and not ctx.systemd_compat:
        import difflib  # error path only (~1 ms)

        sugg = difflib.get_close_matches(p, virt.VM_IDS + virt.CONTAINER_IDS, n=3)
        raise ConditionSyntaxError(
            f"unknown virtualization {p!r}"
            + (f" (did you mean {', '.join(sugg)}?)" if sugg else "")
            + "; expected a boolean, vm, container, private-users or an id of "
            "`systemd-detect-virt --list`",
            text=p,
        )
    return Outcome(actual != "none" and actual == p, f"virtualization is {actual}", detail)


# --- host, kernel ---------------------------------------------------------------------------------
_ID128 = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def check_host(p: str, ctx: Context) -> Outcome:
    """``ConditionHost=``: a machine ID (32 hex digits or UUID form) or a host-name glob
    (case-insensitive)."""
    if _ID128.fullmatch(p):
        mid = read_text("/etc/machine-id").strip().lower()
        want = p.replace("-", "").lower()
        return Outcome(mid == want, f"machine ID is {mid}", {"machine_id": mid})
    import socket  # ~2.5 ms, for this type only

    host = socket.gethostname()
    return Outcome(fnmatch(p, host, casefold=True), f"host name is {host}", {"hostname": host})


# --- power, firmware, boot-time questions --------------------------------------------------------
def check_ac_power(p: str, ctx: Context) -> Outcome:
    """``ConditionACPower=``: boolean; on AC power = a ``Mains`` supply online, or none offline
    (/sys/class/power_supply)."""
    b = parse_boolean(p)
    if b is None:
        raise syntax_error(f"ACPower expects a boolean, got {p!r}", p)
    online = offline = False
    base = "/sys/class/power_supply"
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for n in names:
        if read_first(f"{base}/{n}/type") != "Mains":
            continue
        state = read_first(f"{base}/{n}/online")
        online |= state == "1"
        offline |= state == "0"
    on_ac = online or not offline
    return Outcome(on_ac == b, "on AC power" if on_ac else "on battery", {"ac_power": on_ac})


def check_firmware(p: str, ctx: Context) -> Outcome:
    """``ConditionFirmware=``: ``uefi``, ``device-tree``, ``device-tree-compatible(VALUE)``,
    ``smbios-field(FIELD OP VALUE)`` (/sys/class/dmi/id/FIELD)."""
    if p == "uefi":
        v = os.path.exists("/sys/firmware/efi/")
        return Outcome(v, "booted with UEFI" if v else "not booted with UEFI", {})
    if p == "device-tree":
        v = os.path.exists("/sys/firmware/devicetree/")
        return Outcome(v, "device tree present" if v else "no device tree", {})
    for prefix in ("device-tree-compatible(", "smbios-field("):
        if p.startswith(prefix):
            arg = p[len(prefix) :]
            if not arg.endswith(")"):
                if prefix.startswith("smbios") or not ctx.systemd_compat:
                    raise syntax_error(f"malformed ConditionFirmware={p}: missing ')'", p)
                return Outcome(False, "malformed", {})
            arg = arg[:-1]
            if prefix.startswith("device"):
                try:
                    with open("/proc/device-tree/compatible", "rb") as f:
                        compat = f.read().split(b"\0")
                except OSError:
                    compat = []
                v = arg.encode() in compat
                return Outcome(v, f"{'compatible' if v else 'not compatible'} with {arg}", {})
            return _smbios(arg, p, ctx)
    if ctx.systemd_compat:
        return Outcome(False, f"unsupported firmware condition {p!r}", {})
    raise syntax_error(
        f"unknown firmware condition {p!r}; expected uefi, device-tree, "
        "device-tree-compatible(VALUE) or smbios-field(FIELD OP VALUE)",
        p,
    )


def _smbios(arg: str, p: str, ctx: Context) -> Outcome:
    m = re.match(r"([^!<=>$]*)(.*)$", arg)
    assert m is not None
    fld, rest = m.group(1).rstrip(WS), m.group(2)
    op, rest = parse_compare_operator(rest, fnmatch=True, equal_by_string=True)
    words = split_words(rest)
    if not fld or op is None or len(words) != 1 or "/" in fld:
        raise syntax_error(f"malformed ConditionFirmware={p}: expected smbios-field(FIELD OP VALUE)", p)
    try:
        with open(f"/sys/class/dmi/id/{fld}", encoding="utf-8", errors="replace") as f:
            actual = f.read().rstrip(WS)
    except FileNotFoundError:
        return Outcome(False, f"no SMBIOS field {fld}", {})
    except OSError as exc:
        raise CheckError(f"cannot read /sys/class/dmi/id/{fld}: {exc.strerror}") from exc
    return Outcome(version_or_fnmatch(op, actual, words[0]), f"{fld} is {actual!r}", {fld: actual})
