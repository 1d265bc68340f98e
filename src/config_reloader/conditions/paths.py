"""Checks of file-system paths: ``PathExists``, ``PathExistsGlob``, ``PathIsDirectory``,
``PathIsSymbolicLink``, ``PathIsMountPoint``, ``PathIsReadWrite``, ``PathIsEncrypted``, ``PathIsSocket``,
``DirectoryNotEmpty``, ``FileNotEmpty``, ``FileIsExecutable``. The parser has already made the
path absolute and normalized."""

from __future__ import annotations

import os
import stat

from config_reloader.conditions.base import Context, Outcome, read_first, read_text
from config_reloader.conditions.values import glob_exists

__all__ = [
    "check_directory_not_empty",
    "check_file_is_executable",
    "check_file_not_empty",
    "check_path_exists",
    "check_path_exists_glob",
    "check_path_is_directory",
    "check_path_is_encrypted",
    "check_path_is_mount_point",
    "check_path_is_read_write",
    "check_path_is_socket",
    "check_path_is_symbolic_link",
]


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


def check_path_is_socket(p: str, ctx: Context) -> Outcome:
    """``ConditionPathIsSocket=`` (systemd 258+): a socket (following symlinks)."""
    try:
        v = stat.S_ISSOCK(os.stat(p).st_mode)
    except OSError:
        v = False
    return Outcome(v, f"{p} {'is' if v else 'is not'} a socket", {})


def check_path_is_symbolic_link(p: str, ctx: Context) -> Outcome:
    """``ConditionPathIsSymbolicLink=``: the path itself is a symlink."""
    v = os.path.islink(p)
    return Outcome(v, f"{p} {'is' if v else 'is not'} a symbolic link", {})


def _mount_points() -> set[str]:
    points = set()
    for line in read_text("/proc/self/mountinfo").splitlines():
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
    uuid = read_first(f"{sysdev}/dm/uuid")
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
    try:
        st = os.stat(p)
    except OSError:
        return Outcome(False, f"{p} does not exist", {})
    v = stat.S_ISREG(st.st_mode) and st.st_size > 0
    return Outcome(v, f"{p} {'is' if v else 'is not'} a non-empty regular file", {"size": st.st_size})


def check_file_is_executable(p: str, ctx: Context) -> Outcome:
    """``ConditionFileIsExecutable=``: a regular file with any execute bit."""
    try:
        st = os.stat(p)
    except OSError:
        return Outcome(False, f"{p} does not exist", {})
    v = stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)
    return Outcome(v, f"{p} {'is' if v else 'is not'} an executable regular file", {})
