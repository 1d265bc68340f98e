"""One function per condition type: what ``Condition<Type>=PARAMETER`` means.

Each check has the shape ``check(parameter, ctx) -> Outcome`` and answers the *un-negated*
question; :mod:`config_reloader.conditions.evaluate` applies ``!`` and ``|``. :data:`CHECKS` maps
the type name (without ``Condition``/``Assert``) to ``(check, needs_argument)``.

A check raises:

* :class:`~config_reloader.errors.ConditionSyntaxError` when the parameter is malformed. In the
  default mode that is an input error (exit status 2). Under ``--systemd-compat`` the check
  instead answers what systemd 252 answers (some types say false, ``ConditionControlGroupController``
  says true, others are a test error that systemd logs as "Couldn't determine result …, assuming
  failed").
* :class:`CheckError` when the fact cannot be determined (unreadable file): the condition fails
  whatever its negation, like systemd's ``CONDITION_ERROR``.
* :class:`~config_reloader.errors.NotSupportedHere` for questions only PID 1 can answer
  (``FirstBoot``, ``NeedsUpdate`` outside ``--systemd-compat``, PSI of a slice with no cgroup).

Sources: systemd.unit(5) "Conditions and Asserts"; systemd src/shared/condition.c,
src/basic/compare-operator.c, src/basic/string-util.c (``strverscmp_improved``), v252; each
behaviour cross-checked with ``systemd-analyze condition`` of systemd 252.38 (tests/conformance).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from config_reloader.conditions.base import CheckError, Context, Outcome
from config_reloader.conditions.cpufeature import check_cpu_feature
from config_reloader.errors import ConditionSyntaxError, NotSupportedHere

__all__ = [
    "CHECKS",
    "Check",
    "CheckError",
    "Context",
    "Outcome",
    "compare_versions",
    "parse_size",
]


Check = Callable[[str, Context], Outcome]

_WS = " \t\n\r"


def _syntax(ctx: Context, message: str, parameter: str) -> ConditionSyntaxError:
    return ConditionSyntaxError(message, text=parameter)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror}") from exc


_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})


def parse_boolean(text: str) -> bool | None:
    """systemd's ``parse_boolean``: None if not a boolean."""
    t = text.lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None


# --- comparison operators and versions ------------------------------------------------------------
# (operator text, name, needs ALLOW_FNMATCH, only with EQUAL_BY_STRING / only without)
_OPERATORS: tuple[tuple[str, str, bool, bool | None], ...] = (
    ("$=", "fnmatch-eq", True, None),
    ("!$=", "fnmatch-ne", True, None),
    ("<>", "ne", False, None),
    ("<=", "le", False, None),
    (">=", "ge", False, None),
    ("<", "lt", False, None),
    (">", "gt", False, None),
    ("==", "eq", False, None),
    ("=", "str-eq", False, True),
    ("=", "eq", False, False),
    ("!=", "str-ne", False, True),
    ("!=", "ne", False, False),
)


def parse_compare_operator(text: str, *, fnmatch: bool, equal_by_string: bool) -> tuple[str | None, str]:
    """Split a leading comparison operator off ``text``: ``(name or None, rest)``.

    Source: src/basic/compare-operator.c (v252): ``$=``/``!$=`` only where globs are allowed;
    ``=``/``!=`` compare as strings where the type says so (KernelVersion, OSRelease).
    """
    for op, name, needs_fn, by_string in _OPERATORS:
        if needs_fn and not fnmatch:
            continue
        if by_string is not None and by_string != equal_by_string:
            continue
        if text.startswith(op):
            return name, text[len(op) :]
    return None, text


def _test_order(cmp: int, op: str) -> bool:
    return {
        "lt": cmp < 0,
        "le": cmp <= 0,
        "eq": cmp == 0,
        "ne": cmp != 0,
        "ge": cmp >= 0,
        "gt": cmp > 0,
    }[op]


def compare_versions(a: str, b: str) -> int:
    """Compare two version strings like systemd's ``strverscmp_improved`` (UAPI version format).

    Returns -1, 0 or 1. Rules, in order: characters other than ASCII letters, digits and ``~-^.``
    are skipped; ``~`` sorts before everything (even the end); then the string that ended is
    older; then, for ``-``, ``^`` and ``.`` in this order, the string that has the separator at
    this place is older; digit runs compare numerically (leading zeros ignored) and are newer than
    letters; letter runs compare lexically. Checked against ``systemd-analyze compare-versions``
    (tests/conformance/test_version_compare.py).

    Source: UAPI group "Version Format Specification"; systemd src/fundamental/string-util-fundamental.c.
    """
    valid = set("~-^.")

    def strip(s: str, i: int) -> int:
        while i < len(s) and not (s[i].isascii() and (s[i].isalnum() or s[i] in valid)):
            i += 1
        return i

    i = j = 0
    while True:
        i, j = strip(a, i), strip(b, j)
        ca = a[i] if i < len(a) else ""
        cb = b[j] if j < len(b) else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if not ca or not cb:
            return (ca != "") - (cb != "")
        for sep in ("-", "^", "."):
            if ca == sep or cb == sep:
                if ca != sep:  # the string that has the separator here is the older one
                    return 1
                if cb != sep:
                    return -1
                break
        else:
            sep = ""
        if sep:
            i, j = i + 1, j + 1
            continue
        if ca.isdigit() or cb.isdigit():
            if not ca.isdigit():
                return -1
            if not cb.isdigit():
                return 1
            while i < len(a) and a[i] == "0":
                i += 1
            while j < len(b) and b[j] == "0":
                j += 1
            ei, ej = i, j
            while ei < len(a) and a[ei].isdigit():
                ei += 1
            while ej < len(b) and b[ej].isdigit():
                ej += 1
            da, db = a[i:ei], b[j:ej]
            if len(da) != len(db):
                return 1 if len(da) > len(db) else -1
            if da != db:
                return 1 if da > db else -1
            i, j = ei, ej
            continue
        ei, ej = i, j
        while ei < len(a) and a[ei].isascii() and a[ei].isalpha():
            ei += 1
        while ej < len(b) and b[ej].isascii() and b[ej].isalpha():
            ej += 1
        la, lb = a[i:ei], b[j:ej]
        n = min(len(la), len(lb))
        if la[:n] != lb[:n]:
            return 1 if la[:n] > lb[:n] else -1
        if len(la) != len(lb):
            return 1 if len(la) > len(lb) else -1
        i, j = ei, ej


_FNM_CASEFOLD = 1 << 4  # glibc <fnmatch.h>
_GLOB_NOSORT = 1 << 2  # glibc <glob.h>
_GLOB_BRACE = 1 << 10


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def fnmatch(pattern: str, string: str, *, casefold: bool = False) -> bool:
    """``fnmatch(3)`` of the C library, as systemd calls it: POSIX classes (``[[:digit:]]``),
    backslash escapes, no extglobs; ``casefold`` = ``FNM_CASEFOLD`` (ConditionHost=). Falls back to
    Python's :func:`fnmatch.fnmatchcase` where no C library can be loaded."""
    try:
        libc = _libc()
        fn = libc.fnmatch
    except (OSError, AttributeError):
        from fnmatch import fnmatchcase

        return fnmatchcase(string.lower(), pattern.lower()) if casefold else fnmatchcase(string, pattern)
    import ctypes

    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    fn.restype = ctypes.c_int
    return int(fn(pattern.encode(), string.encode(), _FNM_CASEFOLD if casefold else 0)) == 0


def glob_exists(pattern: str) -> tuple[bool, list[str]]:
    """``glob(3)`` with ``GLOB_NOSORT|GLOB_BRACE`` as systemd's ``glob_exists``: (any match, up to
    10 matches). Falls back to Python's :mod:`glob` (no braces) without a C library."""
    import ctypes

    try:
        libc = _libc()
        g = libc.glob
        free = libc.globfree
    except (OSError, AttributeError):
        import glob

        found = glob.glob(pattern)
        return bool(found), sorted(found)[:10]

    class GlobT(ctypes.Structure):
        _fields_ = [
            ("gl_pathc", ctypes.c_size_t),
            ("gl_pathv", ctypes.POINTER(ctypes.c_char_p)),
            ("gl_offs", ctypes.c_size_t),
            ("gl_flags", ctypes.c_int),
            ("_rest", ctypes.c_void_p * 8),  # callbacks; glibc's glob_t has 5 pointers here
        ]

    buf = GlobT()
    g.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(GlobT)]
    g.restype = ctypes.c_int
    rc = int(g(pattern.encode(), _GLOB_NOSORT | _GLOB_BRACE, None, ctypes.byref(buf)))
    try:
        if rc != 0:
            return False, []
        paths = [buf.gl_pathv[i].decode(errors="replace") for i in range(min(buf.gl_pathc, 10))]
        return True, paths
    finally:
        free(ctypes.byref(buf))


def _version_or_fnmatch(op: str, actual: str, expected: str) -> bool:
    if op == "fnmatch-eq":
        return fnmatch(expected, actual)
    if op == "fnmatch-ne":
        return not fnmatch(expected, actual)
    if op == "str-eq":
        return actual == expected
    if op == "str-ne":
        return actual != expected
    return _test_order(compare_versions(actual, expected), op)


# --- sizes and percentages ------------------------------------------------------------------------
_SIZE_SUFFIXES = (("E", 1024**6), ("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", 1024**2),
                  ("K", 1024), ("B", 1), ("", 1))  # fmt: skip
_NUM_RE = re.compile(r"(\d+)(?:\.(\d*))?")


def parse_size(text: str) -> int:
    """Parse a 1024-based size like systemd's ``parse_size(…, 1024)``: bytes.

    Accepts ``512``, ``1.5G``, ``1G 512M`` (components with descending suffixes are summed),
    suffixes ``B K M G T P E`` (upper case only), whitespace between number and suffix.

    Raises:
        ValueError: not a size.
    """
    p = text.lstrip(_WS)
    if not p or p.startswith("-"):
        raise ValueError(text)
    total = 0
    start = 0
    while p:
        m = _NUM_RE.match(p)
        if not m:
            raise ValueError(text)
        whole = int(m.group(1))
        frac_s = m.group(2) or ""
        rest = p[m.end() :].lstrip(_WS)
        for idx in range(start, len(_SIZE_SUFFIXES)):
            suffix, factor = _SIZE_SUFFIXES[idx]
            if rest.startswith(suffix):
                break
        else:
            raise ValueError(text)
        frac = 0
        if frac_s:
            # systemd computes the fraction in double precision: digits / 10 per digit, * factor,
            # truncated; repeat that exactly so sizes at the boundary compare the same way
            f = float(int(frac_s))
            for _ in frac_s:
                f /= 10
            frac = int(f * float(factor))
        total += whole * factor + frac
        start = idx + 1
        p = rest[len(suffix) :].lstrip(_WS)
        if suffix == "" and p:
            raise ValueError(text)
    return total


def _parse_permyriad(text: str) -> int:
    """``"12.5%"`` → 1250 (hundredths of a percent). Raises ValueError."""
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,2}))?%", text)
    if m:
        value = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    else:
        m = re.fullmatch(r"(\d+)(?:\.(\d))?‰", text)
        if m:
            value = int(m.group(1)) * 10 + int(m.group(2) or "0")
        else:
            m = re.fullmatch(r"(\d+)‱", text)
            if not m:
                raise ValueError(text)
            value = int(m.group(1))
    if value > 10000:
        raise ValueError(text)
    return value


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
    import struct

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
        import difflib

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
    from config_reloader.conditions import virt

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
        import difflib

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
        mid = _read_text("/etc/machine-id").strip().lower()
        want = p.replace("-", "").lower()
        return Outcome(mid == want, f"machine ID is {mid}", {"machine_id": mid})
    import socket

    host = socket.gethostname()
    return Outcome(fnmatch(p, host, casefold=True), f"host name is {host}", {"hostname": host})


def _split_words(text: str) -> list[str]:
    """Whitespace split with shell-like quotes (systemd ``extract_first_word`` UNQUOTE|RELAX)."""
    import shlex

    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return text.split()


def _kernel_cmdline() -> tuple[str, str]:
    from config_reloader.conditions import virt

    override = os.environ.get("SYSTEMD_PROC_CMDLINE")
    if override is not None:
        return override, "$SYSTEMD_PROC_CMDLINE"
    if virt.detect_container() != "none":
        try:
            with open("/proc/1/cmdline", "rb") as f:
                raw = f.read()
        except OSError as exc:
            raise CheckError(f"cannot read /proc/1/cmdline: {exc.strerror}") from exc
        return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace"), "/proc/1/cmdline"
    return _read_text("/proc/cmdline"), "/proc/cmdline"


def check_kernel_command_line(p: str, ctx: Context) -> Outcome:
    """``ConditionKernelCommandLine=``: ``WORD`` (also matches ``WORD=…``) or exact ``WORD=VALUE``.
    In a container systemd reads PID 1's command line instead of ``/proc/cmdline``; so do we."""
    line, source = _kernel_cmdline()
    words = _split_words(line)
    found = p in words if "=" in p else any(w == p or w.startswith(p + "=") for w in words)
    return Outcome(found, f"{'found' if found else 'not found'} in {source}", {"source": source})


def check_kernel_version(p: str, ctx: Context) -> Outcome:
    """``ConditionKernelVersion=``: space-separated expressions ``[OP]VERSION`` against
    ``uname -r``; without operator a glob; all must hold."""
    release = os.uname().release
    words = _split_words(p)
    if not words:
        raise _syntax(ctx, f"empty kernel version expression {p!r}", p)
    first = True
    idx = 0
    while idx < len(words):
        s = words[idx].strip(_WS)
        idx += 1
        op, s = parse_compare_operator(s, fnmatch=True, equal_by_string=True)
        if op is None:
            op = "fnmatch-eq"
        s = s.lstrip(_WS)
        if not s:
            if first and idx < len(words):
                s = words[idx]
                idx += 1
            else:
                raise _syntax(ctx, f"kernel version expression {p!r} ends after an operator", p)
        if not _version_or_fnmatch(op, release, s):
            return Outcome(False, f"kernel release is {release}", {"release": release})
        first = False
    return Outcome(True, f"kernel release is {release}", {"release": release})


# --- environment, credentials, users --------------------------------------------------------------
def check_environment(p: str, ctx: Context) -> Outcome:
    """``ConditionEnvironment=``: ``NAME`` set, or exactly ``NAME=VALUE``, in this process's
    environment (systemd: the manager's environment)."""
    if "=" in p:
        name, _, value = p.partition("=")
        found = ctx.environ.get(name) == value
    else:
        found = p in ctx.environ
    return Outcome(found, f"{'set' if found else 'not set'} in the environment", {})


def check_credential(p: str, ctx: Context) -> Outcome:
    """``ConditionCredential=``: a credential of that name exists in ``$CREDENTIALS_DIRECTORY``
    or ``$ENCRYPTED_CREDENTIALS_DIRECTORY`` (as systemd passes them to a service)."""
    if not p or "/" in p or p in (".", "..") or len(p) > 255:
        return Outcome(False, f"{p!r} is not a valid credential name", {})
    for var in ("CREDENTIALS_DIRECTORY", "ENCRYPTED_CREDENTIALS_DIRECTORY"):
        d = ctx.environ.get(var)
        if not d or not d.startswith("/"):
            continue
        if os.path.lexists(os.path.join(d, p)):
            return Outcome(True, f"found in ${var}", {"directory": d})
    return Outcome(False, "no such credential (no $CREDENTIALS_DIRECTORY entry)", {})


def _uid_is_system(uid: int) -> bool:
    return uid <= 999  # Debian's SYS_UID_MAX, systemd's compiled-in default


def check_user(p: str, ctx: Context) -> Outcome:
    """``ConditionUser=``: user name, UID, or ``@system`` (UID ≤ 999), against the real or
    effective UID."""
    uid, euid = os.getuid(), os.geteuid()
    detail = {"uid": uid, "euid": euid}
    if p == "root":
        return Outcome(0 in (uid, euid), f"uid {uid}, euid {euid}", detail)
    if p == "nobody":
        return Outcome(65534 in (uid, euid), f"uid {uid}, euid {euid}", detail)
    if p == "@system":
        return Outcome(_uid_is_system(uid) or _uid_is_system(euid), f"uid {uid}, euid {euid}", detail)
    if p.isdigit():
        return Outcome(int(p) in (uid, euid), f"uid {uid}, euid {euid}", detail)
    import pwd

    try:
        want = pwd.getpwnam(p).pw_uid
    except KeyError:
        return Outcome(False, f"no user {p!r}", detail)
    return Outcome(want in (uid, euid), f"uid {uid}, euid {euid}", detail)


def check_group(p: str, ctx: Context) -> Outcome:
    """``ConditionGroup=``: group name or GID among the real, effective or supplementary groups."""
    gids = {os.getgid(), os.getegid(), *os.getgroups()}
    detail = {"gids": sorted(gids)}
    if p.isdigit():
        return Outcome(int(p) in gids, f"groups {sorted(gids)}", detail)
    import grp

    try:
        want = grp.getgrnam(p).gr_gid
    except KeyError:
        return Outcome(False, f"no group {p!r}", detail)
    return Outcome(want in gids, f"groups {sorted(gids)}", detail)


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
        import difflib

        sugg = difflib.get_close_matches(name, CAPABILITIES, n=3)
        raise _syntax(
            ctx,
            f"unknown capability {p!r}"
            + (f" (did you mean {', '.join('CAP_' + s.upper() for s in sugg)}?)" if sugg else ""),
            p,
        )
    bnd = None
    for line in _read_text("/proc/self/status").splitlines():
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
    import socket

    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 9)  # NETLINK_AUDIT
    except OSError as exc:
        import errno

        return exc.errno not in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.EPERM)
    s.close()
    return True


def _cvm() -> bool:
    try:
        text = _read_text("/proc/cpuinfo")
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
    does not know and answers false)."""
    known = SECURITY_252 if ctx.systemd_compat else SECURITY
    if p not in known:
        if ctx.systemd_compat:
            return Outcome(False, f"unknown security technology {p!r} (false like systemd 252)", {})
        import difflib

        sugg = difflib.get_close_matches(p, SECURITY, n=3)
        raise _syntax(
            ctx,
            f"unknown security technology {p!r}"
            + (f" (did you mean {', '.join(sugg)}?)" if sugg else "")
            + "; known: "
            + ", ".join(SECURITY),
            p,
        )
    probes: dict[str, Callable[[], bool]] = {
        "selinux": lambda: os.path.exists("/sys/fs/selinux/enforce"),
        "smack": lambda: os.path.exists("/sys/fs/smackfs/"),
        "apparmor": lambda: _read_first("/sys/module/apparmor/parameters/enabled").startswith("Y"),
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


def _read_first(path: str) -> str:
    try:
        return _read_text(path).strip()
    except CheckError:
        return ""


# --- power, firmware, boot-time questions --------------------------------------------------------
def check_ac_power(p: str, ctx: Context) -> Outcome:
    """``ConditionACPower=``: boolean; on AC power = a ``Mains`` supply online, or none offline
    (/sys/class/power_supply)."""
    b = parse_boolean(p)
    if b is None:
        raise _syntax(ctx, f"ACPower expects a boolean, got {p!r}", p)
    online = offline = False
    base = "/sys/class/power_supply"
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for n in names:
        if _read_first(f"{base}/{n}/type") != "Mains":
            continue
        state = _read_first(f"{base}/{n}/online")
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
                    raise _syntax(ctx, f"malformed ConditionFirmware={p}: missing ')'", p)
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
    raise _syntax(
        ctx,
        f"unknown firmware condition {p!r}; expected uefi, device-tree, "
        "device-tree-compatible(VALUE) or smbios-field(FIELD OP VALUE)",
        p,
    )


def _smbios(arg: str, p: str, ctx: Context) -> Outcome:
    m = re.match(r"([^!<=>$]*)(.*)$", arg)
    assert m is not None
    fld, rest = m.group(1).rstrip(_WS), m.group(2)
    op, rest = parse_compare_operator(rest, fnmatch=True, equal_by_string=True)
    words = _split_words(rest)
    if not fld or op is None or len(words) != 1 or "/" in fld:
        raise _syntax(ctx, f"malformed ConditionFirmware={p}: expected smbios-field(FIELD OP VALUE)", p)
    try:
        with open(f"/sys/class/dmi/id/{fld}", encoding="utf-8", errors="replace") as f:
            actual = f.read().rstrip(_WS)
    except FileNotFoundError:
        return Outcome(False, f"no SMBIOS field {fld}", {})
    except OSError as exc:
        raise CheckError(f"cannot read /sys/class/dmi/id/{fld}: {exc.strerror}") from exc
    return Outcome(_version_or_fnmatch(op, actual, words[0]), f"{fld} is {actual!r}", {fld: actual})


def check_first_boot(p: str, ctx: Context) -> Outcome:
    """``ConditionFirstBoot=``: only PID 1 decides at boot whether this is the first boot; a
    process started later (or in a container without systemd) cannot know. Under
    ``--systemd-compat`` we read the marker PID 1 leaves (``/run/systemd/first-boot``) exactly as
    ``systemd-analyze`` does."""
    b = parse_boolean(p)
    if b is None:
        raise _syntax(ctx, f"FirstBoot expects a boolean, got {p!r}", p)
    if not ctx.systemd_compat:
        raise NotSupportedHere(
            "ConditionFirstBoot= is decided by PID 1 at boot; it cannot be answered outside "
            "systemd (use --systemd-compat to read /run/systemd/first-boot like systemd-analyze)",
            type="FirstBoot",
        )
    v = os.path.exists("/run/systemd/first-boot")
    return Outcome(v == b, "first boot" if v else "not first boot", {})


def check_needs_update(p: str, ctx: Context) -> Outcome:
    """``ConditionNeedsUpdate=``: meant to order update units in early boot against /usr's
    mtime. Only under ``--systemd-compat`` (same file logic as systemd 252)."""
    if not ctx.systemd_compat:
        raise NotSupportedHere(
            "ConditionNeedsUpdate= is a boot-time ordering aid of PID 1; it is not answered "
            "outside systemd (use --systemd-compat for systemd-analyze's file check)",
            type="NeedsUpdate",
        )
    if os.path.exists("/etc/initrd-release"):
        return Outcome(False, "in the initrd", {})
    try:
        if os.statvfs(p).f_flag & os.ST_RDONLY:
            return Outcome(False, f"{p} is read-only", {})
    except OSError:
        pass
    try:
        other = os.lstat(os.path.join(p, ".updated"))
        usr = os.lstat("/usr/")
    except OSError:
        return Outcome(True, f"{p}/.updated or /usr missing", {})
    return Outcome(usr.st_mtime_ns > other.st_mtime_ns, "compared /usr with .updated mtime", {})


# --- paths ----------------------------------------------------------------------------------------
def check_path_exists(p: str, ctx: Context) -> Outcome:
    """``ConditionPathExists=``: ``access(F_OK)`` (follows symlinks)."""
    v = os.access(p, os.F_OK)
    return Outcome(v, f"{p} {'exists' if v else 'does not exist'}", {})


def check_path_exists_glob(p: str, ctx: Context) -> Outcome:
    """``ConditionPathExistsGlob=``: the glob (``glob(3)`` with braces) matches at least one path."""
    found, matches = glob_exists(p)
    return Outcome(found, f"matches {', '.join(matches)}" if found else "no match", {"matches": matches})


def check_path_is_directory(p: str, ctx: Context) -> Outcome:
    """``ConditionPathIsDirectory=``: a directory (following symlinks)."""
    v = os.path.isdir(p)
    return Outcome(v, f"{p} {'is' if v else 'is not'} a directory", {})


def check_path_is_symbolic_link(p: str, ctx: Context) -> Outcome:
    """``ConditionPathIsSymbolicLink=``: the path itself is a symlink."""
    v = os.path.islink(p)
    return Outcome(v, f"{p} {'is' if v else 'is not'} a symbolic link", {})


def _mount_points() -> set[str]:
    points = set()
    for line in _read_text("/proc/self/mountinfo").splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.add(fields[4].encode().decode("unicode_escape"))
    return points


def check_path_is_mount_point(p: str, ctx: Context) -> Outcome:
    """``ConditionPathIsMountPoint=``: the path (symlinks followed) is a mount point
    (/proc/self/mountinfo, or a device change against its parent)."""
    if not os.path.exists(p):
        return Outcome(False, f"{p} does not exist", {})
    real = os.path.realpath(p)
    v = real in _mount_points() or os.path.ismount(real)
    return Outcome(v, f"{p} {'is' if v else 'is not'} a mount point", {})


def check_path_is_read_write(p: str, ctx: Context) -> Outcome:
    """``ConditionPathIsReadWrite=``: exists on a file system not mounted read-only."""
    try:
        ro = bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except FileNotFoundError:
        return Outcome(False, f"{p} does not exist", {})
    except OSError:
        ro = False
    return Outcome(not ro, f"{p} is on a {'read-only' if ro else 'read-write'} file system", {})


def _dm_is_crypt(sysdev: str, depth: int = 0) -> bool:
    if depth > 8:
        return False
    uuid = _read_first(f"{sysdev}/dm/uuid")
    if uuid.startswith("CRYPT-"):
        return True
    try:
        slaves = os.listdir(f"{sysdev}/slaves")
    except OSError:
        return False
    return any(_dm_is_crypt(os.path.realpath(f"{sysdev}/slaves/{s}"), depth + 1) for s in slaves)


def check_path_is_encrypted(p: str, ctx: Context) -> Outcome:
    """``ConditionPathIsEncrypted=``: the file system of the path is backed by dm-crypt (the
    device or one of its dm slaves has a ``CRYPT-`` dm uuid)."""
    try:
        st = os.stat(p)
    except OSError:
        return Outcome(False, f"{p} does not exist", {})
    dev = f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    v = os.path.exists(dev) and _dm_is_crypt(os.path.realpath(dev))
    return Outcome(v, f"{p} {'is' if v else 'is not'} on dm-crypt", {})


_BACKUP_SUFFIXES = (
    "~", ".rpmnew", ".rpmsave", ".rpmorig", ".dpkg-old", ".dpkg-new", ".dpkg-tmp", ".dpkg-dist",
    ".dpkg-bak", ".dpkg-backup", ".dpkg-remove", ".ucf-new", ".ucf-old", ".ucf-dist", ".swp",
    ".bak", ".old", ".new",
)  # fmt: skip


def check_directory_not_empty(p: str, ctx: Context) -> Outcome:
    """``ConditionDirectoryNotEmpty=``: a directory with an entry that is not hidden (``.``) or a
    backup file (``~``, ``.dpkg-old``, …), as systemd's ``dir_is_empty(…, ignore_hidden_or_backup)``."""
    try:
        names = os.listdir(p)
    except (FileNotFoundError, NotADirectoryError):
        return Outcome(False, f"{p} is not a directory", {})
    except OSError:
        return Outcome(True, f"{p} cannot be listed (counted as not empty like systemd)", {})
    hidden = ("lost+found", "aquota.user", "aquota.group")
    visible = [
        n for n in names if not n.startswith(".") and not n.endswith(_BACKUP_SUFFIXES) and n not in hidden
    ]
    return Outcome(bool(visible), f"{p} has {len(visible)} visible entries", {})


def check_file_not_empty(p: str, ctx: Context) -> Outcome:
    """``ConditionFileNotEmpty=``: a regular file (symlinks followed) of size > 0."""
    import stat

    try:
        st = os.stat(p)
    except OSError:
        return Outcome(False, f"{p} does not exist", {})
    v = stat.S_ISREG(st.st_mode) and st.st_size > 0
    return Outcome(v, f"{p} {'is' if v else 'is not'} a non-empty regular file", {"size": st.st_size})


def check_file_is_executable(p: str, ctx: Context) -> Outcome:
    """``ConditionFileIsExecutable=``: a regular file with any execute bit."""
    import stat

    try:
        st = os.stat(p)
    except OSError:
        return Outcome(False, f"{p} does not exist", {})
    v = stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)
    return Outcome(v, f"{p} {'is' if v else 'is not'} an executable regular file", {})


# --- cgroups, memory, CPUs, PSI -------------------------------------------------------------------
_CG_V1 = ("cpu", "cpuacct", "blkio", "memory", "devices", "pids")
_CG_V2 = ("cpu", "cpuset", "io", "memory", "pids")
_CG_BPF = ("bpf-firewall", "bpf-devices", "bpf-foreign", "bpf-socket-bind", "bpf-restrict-network-interfaces")
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "io", "blkio", "memory", "devices", "pids", *_CG_BPF)


def cgroup_unified() -> bool:
    """True if /sys/fs/cgroup is cgroup v2 only (systemd's ``cg_all_unified``)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _pid1_cgroup(controller: str | None) -> str:
    """PID 1's cgroup path for a v1 controller (or the v2 one), ``/init.scope`` dropped."""
    text = _read_first("/proc/1/cgroup")
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        if (controller is None and ctrls == "") or (controller and controller in ctrls.split(",")):
            return path.removesuffix("/init.scope") or "/"
    return "/"


def check_control_group_controller(p: str, ctx: Context) -> Outcome:
    """``ConditionControlGroupController=``: ``v1``, ``v2``, or space-separated controllers that
    must all be available (systemd's model: cpuset and io exist on v2 only, blkio/cpuacct/devices
    on v1 only; unknown names are ignored by systemd and an error here)."""
    unified = cgroup_unified()
    detail: dict[str, object] = {"unified": unified}
    if p == "v2":
        return Outcome(unified, "cgroup v2" if unified else "cgroup v1/hybrid", detail)
    if p == "v1":
        return Outcome(not unified, "cgroup v2" if unified else "cgroup v1/hybrid", detail)
    words = p.split()
    unknown = [w for w in words if w not in CGROUP_CONTROLLERS]
    if unknown and not ctx.systemd_compat:
        raise _syntax(
            ctx,
            f"unknown cgroup controller(s) {', '.join(unknown)}; known: v1, v2, "
            + ", ".join(CGROUP_CONTROLLERS),
            p,
        )
    wanted = [w for w in words if w in CGROUP_CONTROLLERS]
    if not wanted:
        return Outcome(True, "no known controller named (true like systemd)", detail)
    if unified:
        root = _pid1_cgroup(None)
        text = _read_first(f"/sys/fs/cgroup{root.rstrip('/')}/cgroup.controllers") or _read_first(
            "/sys/fs/cgroup/cgroup.controllers"
        )
        available = {c for c in text.split() if c in _CG_V2}
        if any(w in _CG_BPF for w in wanted) and not ctx.systemd_compat:
            raise NotSupportedHere(
                "bpf-* pseudo-controllers depend on PID 1's BPF probing; not answered here",
                type="ControlGroupController",
            )
    else:
        available = {c for c in _CG_V1 if os.path.exists(f"/sys/fs/cgroup/{c}")}
    missing = [w for w in wanted if w not in available]
    detail["available"] = sorted(available)
    return Outcome(
        not missing,
        f"available: {' '.join(sorted(available)) or 'none'}"
        + (f"; missing: {' '.join(missing)}" if missing else ""),
        detail,
    )


def physical_memory() -> int:
    """Bytes: physical memory, capped by PID 1's cgroup memory limit (systemd's
    ``physical_memory()``, v252)."""
    mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    ps = os.sysconf("SC_PAGE_SIZE")
    if cgroup_unified():
        raw = _read_first(f"/sys/fs/cgroup{_pid1_cgroup(None).rstrip('/')}/memory.max")
    else:
        raw = _read_first(f"/sys/fs/cgroup/memory{_pid1_cgroup('memory').rstrip('/')}/memory.limit_in_bytes")
    if raw.isdigit():
        lim = int(raw) // ps * ps
        return min(mem, lim)
    return mem


def _ordered(p: str, ctx: Context, what: str) -> tuple[str, str]:
    op, rest = parse_compare_operator(p, fnmatch=False, equal_by_string=False)
    return (op or "ge"), rest


_OP_TEXT = {"lt": "<", "le": "<=", "eq": "=", "ne": "!=", "ge": ">=", "gt": ">"}


def check_memory(p: str, ctx: Context) -> Outcome:
    """``ConditionMemory=``: ``[OP]SIZE`` (default ``>=``; 1024-based ``K M G T P E``) against
    physical memory capped by the cgroup limit."""
    op, rest = _ordered(p, ctx, "memory")
    try:
        want = parse_size(rest)
    except ValueError:
        raise _syntax(ctx, f"ConditionMemory: {rest!r} is not a size (e.g. 4G, 512M, 1.5T)", p) from None
    m = physical_memory()
    return Outcome(
        _test_order((m > want) - (m < want), op),
        f"memory is {m} bytes ({_OP_TEXT[op]} {want} wanted)",
        {"memory_bytes": m, "wanted_bytes": want},
    )


def check_cpus(p: str, ctx: Context) -> Outcome:
    """``ConditionCPUs=``: ``[OP]N`` (default ``>=``) against the number of CPUs in this
    process's affinity mask (``sched_getaffinity``; systemd counts the manager's mask)."""
    op, rest = _ordered(p, ctx, "cpus")
    s = rest.lstrip(_WS)
    if not s.isdigit():
        raise _syntax(ctx, f"ConditionCPUs: {rest!r} is not a number", p)
    n = len(os.sched_getaffinity(0))
    want = int(s)
    return Outcome(
        _test_order((n > want) - (n < want), op),
        f"{n} CPUs in the affinity mask",
        {"cpus": n, "wanted": want},
    )


def _slice_path(slice_: str) -> str:
    if slice_ == "-.slice":
        return ""
    if not slice_.endswith(".slice"):
        raise ValueError(slice_)
    parts = slice_[: -len(".slice")].split("-")
    return "/".join("-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def _check_psi(resource: str, p: str, ctx: Context) -> Outcome:
    """PSI: ``[SLICE:]PCT%[/10sec|/1min|/5min]`` (default 5min) ≤ current average.

    systemd 252 compares the ``some`` line for CPU and ``full`` for memory and io (verified on
    252.38); no PSI support = passes."""
    if not os.path.exists("/proc/pressure"):
        return Outcome(True, "PSI not supported by the kernel (passes like systemd)", {})
    first, sep, second = p.partition(":")
    if sep:
        slice_, value = first.strip(_WS), second
    else:
        slice_, value = None, first
    pct, slash, span = value.partition("/")
    field_name = "avg300"
    if slash:
        span = span.lstrip(_WS)
        for prefix, name in (("10sec", "avg10"), ("1min", "avg60"), ("5min", "avg300")):
            if span.startswith(prefix):
                field_name = name
                break
        else:
            raise _syntax(ctx, f"PSI time span must be 10sec, 1min or 5min, got {span!r}", p)
    try:
        limit = _parse_permyriad(pct.strip(_WS))
    except ValueError:
        raise _syntax(ctx, f"PSI threshold must be a percentage like 20% or 5.5%, got {pct!r}", p) from None
    if slice_ is not None:
        try:
            sp = _slice_path(slice_)
        except ValueError:
            raise _syntax(ctx, f"{slice_!r} is not a slice name", p) from None
        if not cgroup_unified():
            if ctx.systemd_compat:
                return Outcome(True, "slice PSI needs cgroup v2 (passes like systemd)", {})
            raise NotSupportedHere(
                "PSI of a slice needs the unified cgroup hierarchy (systemd skips the check)",
                type=f"{resource}Pressure",
            )
        root = _pid1_cgroup(None).rstrip("/")
        path = f"/sys/fs/cgroup{root}/{sp}/{resource.lower()}.pressure".replace("//", "/")
        if not os.path.exists(path):
            if ctx.systemd_compat:
                return Outcome(True, f"{path} missing (passes like systemd)", {})
            raise NotSupportedHere(
                f"no cgroup for slice {slice_} ({path} missing)", type=f"{resource}Pressure"
            )
    else:
        path = f"/proc/pressure/{resource.lower()}"
    kind = "some" if resource == "CPU" else "full"
    text = _read_text(path)
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln.strip()}
    line = lines.get(kind) or lines.get("some")
    if line is None:
        raise CheckError(f"no PSI data in {path}")
    values = dict(item.split("=", 1) for item in line.split()[1:])
    whole, _, frac = values[field_name].partition(".")
    current = int(whole) * 100 + int((frac or "0")[:2].ljust(2, "0"))
    return Outcome(
        current <= limit,
        f"{kind} {field_name}={values[field_name]}% (limit {limit / 100:g}%) in {path}",
        {"path": path, "line": kind, "window": field_name, "current": current / 100, "limit": limit / 100},
    )


def check_memory_pressure(p: str, ctx: Context) -> Outcome:
    """``ConditionMemoryPressure=``: see :func:`_check_psi`."""
    return _check_psi("Memory", p, ctx)


def check_cpu_pressure(p: str, ctx: Context) -> Outcome:
    """``ConditionCPUPressure=``: see :func:`_check_psi`."""
    return _check_psi("CPU", p, ctx)


def check_io_pressure(p: str, ctx: Context) -> Outcome:
    """``ConditionIOPressure=``: see :func:`_check_psi`."""
    return _check_psi("IO", p, ctx)


# --- OS release -----------------------------------------------------------------------------------
def _os_release() -> dict[str, str]:
    import shlex

    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CheckError(f"cannot read {path}: {exc.strerror}") from exc
        out: dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, _, v = line.partition("=")
            try:
                parts = shlex.split(v)
            except ValueError:
                parts = [v]
            out[k.strip()] = " ".join(parts)
        return out
    raise CheckError("neither /etc/os-release nor /usr/lib/os-release exists")


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_os_release(p: str, ctx: Context) -> Outcome:
    """``ConditionOSRelease=``: space-separated ``KEY OP VALUE`` (``=``/``!=`` string equality,
    ``<``, ``<=``, ``==``, ``<>``, ``>=``, ``>`` version comparison, ``$=``/``!$=`` globs) against
    os-release(5); all must hold; a missing key compares as empty."""
    data = _os_release()
    words = _split_words(p)
    if not words:
        raise _syntax(ctx, "ConditionOSRelease: expected KEY=VALUE", p)
    for w in words:
        m = re.match(r"([^!<=>$]*)(.*)$", w)
        assert m is not None
        key, rest = m.group(1), m.group(2)
        op, value = parse_compare_operator(rest, fnmatch=True, equal_by_string=True)
        if not _ENV_NAME.fullmatch(key) or op is None or not value or value[0] in _WS:
            raise _syntax(
                ctx, f"ConditionOSRelease: {w!r} is not KEY OP VALUE (e.g. ID=debian, VERSION_ID>=12)", p
            )
        actual = data.get(key, "")
        if not _version_or_fnmatch(op, actual, value):
            return Outcome(False, f"{key}={actual!r}", {key: actual})
    return Outcome(True, "os-release matches", {k: data.get(k, "") for k in data if k in p})


#: type (without Condition/Assert) -> (check, needs_argument). Every systemd type takes a value.
CHECKS: Mapping[str, tuple[Check, bool]] = {
    "Architecture": (check_architecture, True),
    "Firmware": (check_firmware, True),
    "Virtualization": (check_virtualization, True),
    "Host": (check_host, True),
    "KernelCommandLine": (check_kernel_command_line, True),
    "KernelVersion": (check_kernel_version, True),
    "Credential": (check_credential, True),
    "Security": (check_security, True),
    "Capability": (check_capability, True),
    "ACPower": (check_ac_power, True),
    "NeedsUpdate": (check_needs_update, True),
    "FirstBoot": (check_first_boot, True),
    "PathExists": (check_path_exists, True),
    "PathExistsGlob": (check_path_exists_glob, True),
    "PathIsDirectory": (check_path_is_directory, True),
    "PathIsSymbolicLink": (check_path_is_symbolic_link, True),
    "PathIsMountPoint": (check_path_is_mount_point, True),
    "PathIsReadWrite": (check_path_is_read_write, True),
    "PathIsEncrypted": (check_path_is_encrypted, True),
    "DirectoryNotEmpty": (check_directory_not_empty, True),
    "FileNotEmpty": (check_file_not_empty, True),
    "FileIsExecutable": (check_file_is_executable, True),
    "User": (check_user, True),
    "Group": (check_group, True),
    "ControlGroupController": (check_control_group_controller, True),
    "CPUs": (check_cpus, True),
    "Memory": (check_memory, True),
    "Environment": (check_environment, True),
    "CPUFeature": (check_cpu_feature, True),
    "OSRelease": (check_os_release, True),
    "MemoryPressure": (check_memory_pressure, True),
    "CPUPressure": (check_cpu_pressure, True),
    "IOPressure": (check_io_pressure, True),
}
