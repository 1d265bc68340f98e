"""Which names in a watched dir are not configuration: writers' temp files, editor backups, locks.

A writer that does the right thing (temp file in the same dir, fsync, rename over the target)
creates a file of its own inside a watched dir. Hashed like any other file, the temp file is a
change of its own: at ``--delay-interval=0`` its close produced an extra reload with the old
target content, and the real change then waited for that reload. A path filter drops such names
from both the hints (:class:`~config_reloader.watch.watcher.ChangeSource`) and the digest
(:class:`~config_reloader.watch.snapshot.Snapshotter`), so they are neither a reason to look
again nor part of the content.

The filter is a plain callable ``(path) -> bool``, True = keep (the shape watchfiles uses for
its ``watch_filter``), compiled once from shell globs matched against the base name
(``fnmatch.fnmatchcase``: ``*``, ``?``, ``[...]``; case-sensitive). Explicitly configured files
(``--config-file``) are never filtered; names starting with ``..`` (kubelet internals) are skipped
by the snapshot anyway.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable

__all__ = ["DEFAULT_IGNORE_GLOBS", "PathFilter", "compile_ignore", "keep_all"]

PathFilter = Callable[[str], bool]
"""``(path) -> bool``: True = the path is part of the configuration (hint it, hash it)."""

DEFAULT_IGNORE_GLOBS: tuple[str, ...] = (
    "*.tmp",  # config_reloader.atomic temp files (".<name>.<random>.tmp") and most writers' temps
    ".*.validate-*",  # --validate-command candidates written next to the output
    "*~",  # vim / emacs backups (vim's default save renames F to F~ for a moment)
    ".*.swp",  # vim swap files
    ".*.swx",  # vim's probe for a writable swap name
    "4913",  # vim's probe for whether the dir allows creating files (vim src/bufwrite.c)
    ".#*",  # emacs lock files (symlinks to user@host.pid)
)
"""Globs ignored by default (base names). ``--watch-ignore`` adds to them; ``--watch-ignore=``
(empty) clears them."""


def keep_all(path: str) -> bool:
    """The filter that keeps everything (Thanos' behaviour)."""
    return True


def compile_ignore(globs: Iterable[str]) -> PathFilter:
    """Compile ``globs`` (matched against the base name) into one :data:`PathFilter`.

    Args:
        globs: shell globs such as ``"*.tmp"``; an empty iterable gives :func:`keep_all`.

    Returns:
        ``keep(path)``: False when the base name of ``path`` matches one of ``globs``.

    Raises:
        ValueError: a glob is empty or contains ``/`` (globs match base names only).
    """
    patterns: list[str] = []
    for glob in globs:
        if not glob or "/" in glob:
            raise ValueError(f"ignore glob {glob!r} must be a non-empty base-name pattern (no '/')")
        patterns.append(fnmatch.translate(glob))
    if not patterns:
        return keep_all
    matcher = re.compile("|".join(f"(?:{p})" for p in patterns)).match
    basename = os.path.basename

    def keep(path: str) -> bool:
        return matcher(basename(path)) is None

    return keep
