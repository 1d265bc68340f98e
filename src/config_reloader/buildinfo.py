"""``prometheus_config_reloader_build_info``: the build metric prometheus-config-reloader exports.

The Go program registers client_golang's version collector under its program name: a gauge of
constant 1 labelled ``version``, ``revision``, ``branch``, ``goversion``, ``goos``, ``goarch`` and
``tags``. Ours keeps the name (dashboards select on it) and the labels that mean the same thing
here (``version``, ``revision``, ``branch``); the Go-specific ones are replaced by honest
counterparts: ``python_version`` (``3.11.7``), ``python_implementation`` (``CPython``), ``os``
(``linux``) and ``arch`` (the machine, ``x86_64``; Go would say ``amd64``). There are no build tags.

Registered by :func:`config_reloader.metrics.register_build_info` (CLI registries only). The
revision is found without running git: pip's ``direct_url.json`` (an install from a VCS URL
records the commit), else the ``.git`` of the source tree the package runs from (an editable
install or a clone), else ``unknown``.
"""

from __future__ import annotations

import os
import sys

from config_reloader.version import dist_info_text, version_text

__all__ = ["BUILD_INFO_NAME", "build_info"]

BUILD_INFO_NAME = "prometheus_config_reloader_build_info"


_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "graalpy": "GraalVM", "ironpython": "IronPython"}
"""``sys.implementation.name`` -> the spelling of :func:`platform.python_implementation`."""


def _from_direct_url() -> str | None:
    text = dist_info_text("direct_url.json")
    if not text or "vcs_info" not in text:
        return None
    import json  # only for a VCS install's record

    try:
        commit = json.loads(text).get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return commit if isinstance(commit, str) and commit else None


def _git_dir(start: str) -> str | None:
    d = os.path.abspath(start)
    for _ in range(6):  # src/config_reloader -> the clone's root is 2 levels up; stay bounded
        candidate = os.path.join(d, ".git")
        if os.path.isdir(candidate):
            return candidate
        if os.path.isfile(candidate):  # a worktree: "gitdir: PATH"
            try:
                with open(candidate, encoding="utf-8") as f:
                    line = f.read(4096).strip()
            except OSError:
                return None
            if line.startswith("gitdir:"):
                return os.path.join(d, line.removeprefix("gitdir:").strip())
            return None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(65536)
    except OSError:
        return None


def _from_git(start: str) -> tuple[str, str] | None:
    """``(revision, branch)`` from ``.git/HEAD`` (loose or packed ref); ``None`` when not a clone."""
    git = _git_dir(start)
    if git is None:
        return None
    head = (_read(os.path.join(git, "HEAD")) or "").strip()
    if not head.startswith("ref:"):
        return (head, "") if len(head) >= 40 else None
    ref = head.removeprefix("ref:").strip()
    branch = ref.removeprefix("refs/heads/")
    common = git
    commondir = _read(os.path.join(git, "commondir"))  # worktrees keep refs in the main .git
    if commondir:
        common = os.path.normpath(os.path.join(git, commondir.strip()))
    for base in (git, common):
        loose = _read(os.path.join(base, ref))
        if loose and loose.strip():
            return loose.strip(), branch
    for line in (_read(os.path.join(common, "packed-refs")) or "").splitlines():
        sha, _, name = line.partition(" ")
        if name.strip() == ref:
            return sha, branch
    return None


def build_info() -> dict[str, str]:
    """The label values: ``version``, ``revision``, ``branch``, ``python_version``,
    ``python_implementation``, ``os``, ``arch``. Never raises (unknown parts are ``"unknown"``
    or empty)."""
    revision, branch = "unknown", ""
    direct = _from_direct_url()
    if direct is not None:
        revision = direct
    else:
        found = _from_git(os.path.dirname(__file__))
        if found is not None:
            revision, branch = found
    return {
        "version": version_text(),
        "revision": revision,
        "branch": branch,
        "python_version": sys.version.split()[0],  # platform.python_version()'s source
        "python_implementation": _IMPLEMENTATIONS.get(sys.implementation.name, sys.implementation.name),
        "os": sys.platform,
        "arch": os.uname().machine,
    }
