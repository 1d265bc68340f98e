"""Checks of what machine this is: ``Architecture``, ``Virtualization``, ``Host``,
``MachineTag``, ``Fraction``, ``Firmware``, ``ACPower``."""

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
    parse_permyriad,
    split_words,
    version_or_fnmatch,
)
from config_reloader.errors import ConditionSyntaxError

__all__ = [
    "ARCHITECTURES",
    "check_ac_power",
    "check_architecture",
    "check_firmware",
    "check_fraction",
    "check_host",
    "check_machine_tag",
    "check_virtualization",
    "fraction_bucket",
    "machine_id",
    "machine_tags",
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


# --- host, machine identity ---------------------------------------------------------------------
_ID128 = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_MACHINE_ID = "/etc/machine-id"


def machine_id() -> str:
    """This machine's ID (``/etc/machine-id``: 32 lower-case hex digits).

    Raises:
        CheckError: unreadable, empty (not initialized) or malformed.
    """
    mid = read_text(_MACHINE_ID).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{32}", mid) or mid == "0" * 32:
        raise CheckError(f"{_MACHINE_ID} holds no valid machine ID")
    return mid


def _other_ids() -> dict[str, str]:
    """The boot ID and the firmware's product UUID, where readable (systemd 261 matches a
    ``ConditionHost=`` ID against them too)."""
    out = {}
    for what, path in (
        ("boot_id", "/proc/sys/kernel/random/boot_id"),
        ("product_uuid", "/sys/class/dmi/id/product_uuid"),
    ):
        value = read_first(path).replace("-", "").lower()
        if re.fullmatch(r"[0-9a-f]{32}", value):
            out[what] = value
    return out


def check_host(p: str, ctx: Context) -> Outcome:
    """``ConditionHost=``: a host-name glob (case-insensitive), or an ID (32 hex digits or UUID
    form) that is the machine ID; systemd 261 (default mode) also accepts the boot ID or the
    product UUID and, when no ID matches, still tries the value as a host-name glob."""
    if _ID128.fullmatch(p):
        want = p.replace("-", "").lower()
        if ctx.systemd_compat:  # 252: the machine ID only, and an ID is never a host name
            mid = read_text(_MACHINE_ID).strip().lower()
            return Outcome(mid == want, f"machine ID is {mid}", {"machine_id": mid})
        ids = _other_ids()
        try:
            ids = {"machine_id": machine_id(), **ids}
        except CheckError:
            pass  # systemd 261 ignores an unreadable machine ID here
        for what, value in ids.items():
            if value == want:
                return Outcome(True, f"{what.replace('_', ' ')} is {value}", {what: value})
    host = os.uname().nodename
    return Outcome(fnmatch(p, host, casefold=True), f"host name is {host}", {"hostname": host})


def fraction_bucket(machine_id_hex: str, tag: str) -> int:
    """The 32-bit number ``ConditionFraction=`` compares for this machine and tag: the first four
    bytes (little-endian) of HMAC-SHA256 keyed with the 16 machine-ID bytes over
    ``systemd-fraction-TAG``."""
    import hashlib  # ~3.5 ms of imports with hmac (OpenSSL), for this type only
    import hmac

    digest = hmac.new(
        bytes.fromhex(machine_id_hex), f"systemd-fraction-{tag}".encode(), hashlib.sha256
    ).digest()
    return int.from_bytes(digest[:4], "little")


def check_fraction(p: str, ctx: Context) -> Outcome:
    """``ConditionFraction=[TAG ]PERCENT`` (systemd 261): true on a stable share of machines.

    The machine passes when :func:`fraction_bucket` is below ``PERCENT`` of 2^32-1 (rounded to
    the nearest integer), so the same machines pass every time and a larger share includes a
    smaller one; a different ``TAG`` picks an independent share. ``0%`` never passes and ``100%``
    always does (without reading the machine ID). ``PERCENT`` is ``N%``, ``N.N%``, ``N‰`` or
    ``N‱`` (systemd's permyriad syntax).

    Raises:
        ConditionSyntaxError: more than two words, or not a percentage.
        CheckError: no valid machine ID.
    """
    words = [w for w in re.split(f"[{WS}]+", p) if w]  # no unquoting, as systemd
    if not 1 <= len(words) <= 2:
        raise syntax_error(f"ConditionFraction: expected [TAG ]PERCENT, got {p!r}", p)
    tag, percent = (words[0], words[1]) if len(words) == 2 else ("", words[0])
    try:
        permyriad = parse_permyriad(percent)
    except ValueError:
        raise syntax_error(
            f"ConditionFraction: {percent!r} is not a percentage like 10% or 2.5%", p
        ) from None
    detail: dict[str, object] = {"tag": tag, "permyriad": permyriad}
    if permyriad == 0:
        return Outcome(False, "0% of machines", detail)
    if permyriad >= 10000:
        return Outcome(True, "100% of machines", detail)
    bucket = fraction_bucket(machine_id(), tag)
    limit = (permyriad * 0xFFFFFFFF + 5000) // 10000
    detail.update(bucket=bucket, limit=limit)
    inside = bucket < limit
    share = f"{permyriad / 100:g}%"
    return Outcome(inside, f"this machine is {'in' if inside else 'outside'} the {share} share", detail)


_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9.=-]*")
_MACHINE_TAGS_MAX = 1024


def _machine_tag_valid(tag: str) -> bool:
    if not 0 < len(tag) < 256 or not _TAG.fullmatch(tag) or tag[0] == "=":
        return False
    key, eq, _ = tag.partition("=")
    return not (key if eq else tag).endswith(("-", "."))


def machine_tags(text: str) -> list[str]:
    """The ``TAGS=`` value of machine-info(5): ``:``-separated tags, invalid ones dropped; for a
    repeated tag, or a ``KEY=VALUE`` tag whose key repeats, the last wins; sorted.

    Raises:
        ValueError: more than 1024 valid tags.
    """
    chosen: dict[str, str] = {}
    for tag in text.split(":") if text else []:
        if not _machine_tag_valid(tag):
            continue
        if len(chosen) >= _MACHINE_TAGS_MAX:
            raise ValueError("more than 1024 machine tags")
        key, eq, _ = tag.partition("=")
        chosen[key + eq] = tag
    return sorted(chosen.values())


def check_machine_tag(p: str, ctx: Context) -> Outcome:
    """``ConditionMachineTag=GLOB`` (systemd 261): a tag of ``TAGS=`` in ``/etc/machine-info``
    (``$SYSTEMD_ETC_MACHINE_INFO`` overrides the path, as for systemd) matches the glob
    (``fnmatch(3)``, case-sensitive). A missing or unreadable file has no tags."""
    path = ctx.environ.get("SYSTEMD_ETC_MACHINE_INFO") or "/etc/machine-info"
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            text = f.read(1 << 20)
        tags = machine_tags(_env_value(text, "TAGS"))
    except OSError as exc:  # systemd: any read or parse failure means no tag matches
        return Outcome(False, f"no machine tags ({path}: {exc.strerror})", {"path": path, "tags": []})
    except (UnicodeDecodeError, ValueError) as exc:
        return Outcome(False, f"no machine tags ({path}: {exc})", {"path": path, "tags": []})
    match = [t for t in tags if fnmatch(p, t)]
    detail: dict[str, object] = {"path": path, "tags": tags}
    if match:
        return Outcome(True, f"machine tag {match[0]} matches", detail)
    return Outcome(False, f"no machine tag matches (tags: {' '.join(tags) or 'none'})", detail)


def _env_value(text: str, key: str) -> str:
    """The last ``KEY=value`` of an environment-style file (shell quoting undone), or ``""``."""
    import shlex  # ~0.3 ms, for this type only

    value = ""
    for line in text.splitlines():
        k, eq, v = line.strip().partition("=")
        if eq and k.strip() == key:
            try:
                value = " ".join(shlex.split(v, comments=False))
            except ValueError:
                value = v.strip()
    return value


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
