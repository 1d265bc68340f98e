"""Checks of the running software and boot state: ``KernelCommandLine``, ``KernelVersion``,
``OSRelease``, ``FirstBoot``, ``NeedsUpdate``."""

from __future__ import annotations

import os
import re

from config_reloader.conditions.base import CheckError, Context, Outcome, read_text, syntax_error
from config_reloader.conditions.values import (
    WS,
    parse_boolean,
    parse_compare_operator,
    split_words,
    version_or_fnmatch,
)
from config_reloader.errors import NotSupportedHere

__all__ = [
    "check_first_boot",
    "check_kernel_command_line",
    "check_kernel_version",
    "check_needs_update",
    "check_os_release",
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
    """``ConditionKernelVersion=``: space-separated expressions ``[OP]VERSION`` against
    ``uname -r``; without operator a glob; all must hold."""
    release = os.uname().release
    words = split_words(p)
    if not words:
        raise syntax_error(f"empty kernel version expression {p!r}", p)
    first = True
    idx = 0
    while idx < len(words):
        s = words[idx].strip(WS)
        idx += 1
        op, s = parse_compare_operator(s, fnmatch=True, equal_by_string=True)
        if op is None:
            op = "fnmatch-eq"
        s = s.lstrip(WS)
        if not s:
            if first and idx < len(words):
                s = words[idx]
                idx += 1
            else:
                raise syntax_error(f"kernel version expression {p!r} ends after an operator", p)
        if not version_or_fnmatch(op, release, s):
            return Outcome(False, f"kernel release is {release}", {"release": release})
        first = False
    return Outcome(True, f"kernel release is {release}", {"release": release})


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
