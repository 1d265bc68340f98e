"""Checks of the running software and boot state: ``KernelCommandLine``, ``KernelVersion``,
``Version``, ``KernelModuleLoaded``, ``OSRelease``, ``FirstBoot``, ``NeedsUpdate``."""

from __future__ import annotations

import os
import re

from config_reloader.conditions.base import CheckError, Context, Outcome, read_text, syntax_error
from config_reloader.conditions.values import (
    WS,
    parse_boolean,
    parse_compare_operator,
    split_words,
    version_expression_holds,
    version_or_fnmatch,
)
from config_reloader.errors import NotSupportedHere

__all__ = [
    "check_first_boot",
    "check_kernel_command_line",
    "check_kernel_module_loaded",
    "check_kernel_version",
    "check_needs_update",
    "check_os_release",
    "check_version",
    "glibc_version",
    "systemd_version",
]


def _kernel_cmdline() -> tuple[str, str]:
    from config_reloader.conditions import virt  # ~10 ms of imports, for this type only

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
    return read_text("/proc/cmdline"), "/proc/cmdline"


def check_kernel_command_line(p: str, ctx: Context) -> Outcome:
    """``ConditionKernelCommandLine=``: ``WORD`` (also matches ``WORD=…``) or exact ``WORD=VALUE``.
    In a container systemd reads PID 1's command line instead of ``/proc/cmdline``; so do we."""
    line, source = _kernel_cmdline()
    words = split_words(line)
    found = p in words if "=" in p else any(w == p or w.startswith(p + "=") for w in words)
    return Outcome(found, f"{'found' if found else 'not found'} in {source}", {"source": source})


def check_kernel_version(p: str, ctx: Context) -> Outcome:
    """``ConditionKernelVersion=``: a version expression (:func:`.values.parse_version_expression`)
    against ``uname -r``. systemd 261 reads it as an alias of ``ConditionVersion=`` (so a first
    word ``systemd``, ``glibc`` or ``kernel`` names the software); systemd 252 and
    ``--systemd-compat`` compare the whole value with the kernel release."""
    if not ctx.systemd_compat:
        return check_version(p, ctx)
    return _compare_version("kernel", os.uname().release, p)


#: Where distributions install systemd's shared library, whose name carries the version
#: (``libsystemd-shared-252.so``, ``libsystemd-shared-256.11-1.fc41.so``).
_SYSTEMD_LIB_DIRS = ("/usr/lib/systemd", "/usr/lib64/systemd", "/lib/systemd", "/lib64/systemd")
_MULTIARCH_ROOT = "/usr/lib"
_SYSTEMD_LIB = re.compile(r"libsystemd-shared-(\d+)[^/]*\.so")


def systemd_version() -> tuple[str | None, str]:
    """The major version of the systemd installed here, as ``ConditionVersion=systemd`` compares
    it (systemd compares its own ``PROJECT_VERSION``, an integer such as ``261``), and where it
    was found: ``(version or None, source)``.

    Read from the name of ``libsystemd-shared-N*.so`` (no process started); if there is none,
    from ``systemctl --version``. ``None`` when no systemd is installed.
    """
    dirs = list(_SYSTEMD_LIB_DIRS)
    try:  # Debian's multiarch layout: /usr/lib/x86_64-linux-gnu/systemd
        dirs += [f"{_MULTIARCH_ROOT}/{d}/systemd" for d in os.listdir(_MULTIARCH_ROOT) if d.endswith("-gnu")]
    except OSError:
        pass
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            m = _SYSTEMD_LIB.fullmatch(name)
            if m:
                return m.group(1), f"{d}/{name}"
    import subprocess  # ~5 ms of imports plus a process; only when no library was found

    try:
        out = subprocess.run(
            ["systemctl", "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, "no libsystemd-shared library and no systemctl"
    m = re.match(r"systemd (\d+)", out)
    return (m.group(1), "systemctl --version") if m else (None, "systemctl --version printed no version")


def glibc_version() -> str | None:
    """The C library's version (``gnu_get_libc_version``, e.g. ``"2.36"``), None if not glibc."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return None
    name, _, version = text.partition(" ")
    return version if name == "glibc" and version else None


_PREDICATE_END = re.compile(r"[!<=>$" + WS + r"]")


def check_version(p: str, ctx: Context) -> Outcome:
    """``ConditionVersion=[systemd|glibc|kernel] EXPRESSION`` (systemd 261).

    The first word, up to an operator character or whitespace, names the software; without one
    of the three names the whole value is a kernel expression (``>=6.1``). ``systemd`` compares
    the installed systemd's major version (:func:`systemd_version`; none installed: false, like
    ``glibc`` on a C library that is not glibc); ``glibc`` the C library's version; ``kernel`` the
    ``uname -r`` release. An expression with no terms (``ConditionVersion=systemd``) holds.
    """
    m = _PREDICATE_END.search(p)
    word, rest = (p[: m.start()], p[m.start() :]) if m else (p, "")
    if word == "systemd":
        version, source = systemd_version()
        if version is None:
            return Outcome(False, f"no systemd found ({source})", {"software": "systemd"})
        return _compare_version("systemd", version, rest, source)
    if word == "glibc":
        glibc = glibc_version()
        if glibc is None:
            return Outcome(False, "the C library is not glibc", {"software": "glibc"})
        return _compare_version("glibc", glibc, rest)
    if word == "kernel":
        return _compare_version("kernel", os.uname().release, rest)
    return _compare_version("kernel", os.uname().release, p)


def _compare_version(software: str, actual: str, expression: str, source: str | None = None) -> Outcome:
    try:
        holds = version_expression_holds(expression, actual)
    except ValueError as exc:
        raise syntax_error(str(exc), expression) from None
    detail: dict[str, object] = {"software": software, "version": actual}
    if source is not None:
        detail["source"] = source
    return Outcome(holds, f"{software} version is {actual}", detail)


_MODULE_NAME_BAD = frozenset({"", ".", ".."})


def check_kernel_module_loaded(p: str, ctx: Context, *, sysfs: str = "/sys/module") -> Outcome:
    """``ConditionKernelModuleLoaded=MODULE`` (systemd 258+): the module is fully loaded.

    ``-`` and ``_`` are the same in module names. A name that is not a valid file name is not
    loaded. ``/sys/module/NAME`` missing: not loaded; present without ``initstate``: built into
    the kernel, loaded; with ``initstate``: loaded only when it says ``live`` (not ``coming``
    or ``going``). Another error reading them cannot be answered (the condition fails).
    """
    name = p.replace("-", "_")
    if name in _MODULE_NAME_BAD or "/" in name or len(name.encode()) > 255:
        return Outcome(False, f"{p!r} is not a valid module name (not loaded)", {"module": name})
    path = f"{sysfs}/{name}"
    detail: dict[str, object] = {"module": name, "path": path}
    if not os.path.exists(path):  # a dangling link too: systemd's open() gets ENOENT
        return Outcome(False, f"{name} not loaded ({path} missing)", detail)
    if not os.path.isdir(path):
        raise CheckError(f"{path} is not a directory")
    try:
        with open(f"{path}/initstate", encoding="ascii", errors="replace") as f:
            state = f.read().rstrip(WS)
    except FileNotFoundError:
        return Outcome(True, f"{name} is built into the kernel", {**detail, "initstate": None})
    except OSError as exc:
        raise CheckError(f"cannot read {path}/initstate: {exc.strerror}") from exc
    detail["initstate"] = state
    return Outcome(state == "live", f"{name} is {state}", detail)


def check_first_boot(p: str, ctx: Context) -> Outcome:
    """``ConditionFirstBoot=``: only PID 1 decides at boot whether this is the first boot; a
    process started later (or in a container without systemd) cannot know. Under
    ``--systemd-compat`` we read the marker PID 1 leaves (``/run/systemd/first-boot``) exactly as
    ``systemd-analyze`` does."""
    b = parse_boolean(p)
    if b is None:
        raise syntax_error(f"FirstBoot expects a boolean, got {p!r}", p)
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


# --- OS release -----------------------------------------------------------------------------------
def _os_release() -> dict[str, str]:
    import shlex  # ~0.3 ms, for this type only

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
    words = split_words(p)
    if not words:
        raise syntax_error("ConditionOSRelease: expected KEY=VALUE", p)
    for w in words:
        m = re.match(r"([^!<=>$]*)(.*)$", w)
        assert m is not None
        key, rest = m.group(1), m.group(2)
        op, value = parse_compare_operator(rest, fnmatch=True, equal_by_string=True)
        if not _ENV_NAME.fullmatch(key) or op is None or not value or value[0] in WS:
            raise syntax_error(
                f"ConditionOSRelease: {w!r} is not KEY OP VALUE (e.g. ID=debian, VERSION_ID>=12)", p
            )
        actual = data.get(key, "")
        if not version_or_fnmatch(op, actual, value):
            return Outcome(False, f"{key}={actual!r}", {key: actual})
    return Outcome(True, "os-release matches", {k: data.get(k, "") for k in data if k in p})
