"""Checks of who and what this process runs as: ``Environment``, ``Credential``, ``User``,
``Group``."""

from __future__ import annotations

import grp
import os
import pwd

from config_reloader.conditions.base import Context, Outcome

__all__ = ["check_credential", "check_environment", "check_group", "check_user"]


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
    try:
        want = grp.getgrnam(p).gr_gid
    except KeyError:
        return Outcome(False, f"no group {p!r}", detail)
    return Outcome(want in gids, f"groups {sorted(gids)}", detail)
