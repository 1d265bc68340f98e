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
(``fnmatch.fnmatchcase``: ``*``, ``?``, ``[...]``; case-sensitive). Globs made of ``*``, ``?``
and plain characters, such as every default one, are matched by :func:`glob_match`; only a glob
with ``[`` goes through ``fnmatch`` and ``re`` (with ``enum``, ``functools`` and
``collections``, ~11 ms of CPU at start: the init container's one-shot render loads none of
them). Explicitly configured files
(``--config-file``) are never filtered; names starting with ``..`` (kubelet internals) are skipped
by the snapshot anyway.
"""

from __future__ import annotations

import os

# collections.abc's Callable from the module that defines it, which the interpreter has loaded
# before any of ours (os imports it): ``collections.abc`` would load the ``collections`` package
# and with it ``keyword``, ``operator`` and ``reprlib`` (~2.5 ms of the one-shot render's CPU).
from _collections_abc import Callable

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["DEFAULT_IGNORE_GLOBS", "PathFilter", "compile_ignore", "glob_match", "keep_all"]

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
    simple: list[str] = []
    bracketed: list[str] = []
    for glob in globs:
        if not glob or "/" in glob:
            raise ValueError(f"ignore glob {glob!r} must be a non-empty base-name pattern (no '/')")
        (bracketed if "[" in glob else simple).append(glob)
    if not simple and not bracketed:
        return keep_all
    regex_match = _compile_bracketed(bracketed) if bracketed else None
    basename = os.path.basename

    def keep(path: str) -> bool:
        name = basename(path)
        if any(glob_match(glob, name) for glob in simple):
            return False
        return regex_match is None or regex_match(name) is None

    return keep


def _compile_bracketed(globs: list[str]) -> Callable[[str], object]:
    """One regular expression's ``match`` for globs with ``[...]`` (``fnmatch.translate``)."""
    # Imported only for such a glob (none of the defaults has one): see the module docstring.
    import fnmatch
    import re

    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)).match


def glob_match(glob: str, name: str) -> bool:
    """Whether ``name`` matches ``glob`` as a whole, as ``fnmatch.fnmatchcase`` would decide for a
    glob without ``[``.

    Grammar: ``*`` matches any run of characters (the empty one too), ``?`` any one character,
    every other character itself (case-sensitive). ``[`` is taken as a plain character here:
    :func:`compile_ignore` sends globs with ``[`` to ``fnmatch``.

    Backtracking to the last ``*`` only (a later ``*`` makes every earlier choice good enough):
    at most ``len(glob) * len(name)`` steps.
    """
    g = n = 0
    star = -1  # index in glob of the last "*" seen
    resume = 0  # index in name where that "*" ends now
    while n < len(name):
        if g < len(glob) and glob[g] == "*":
            star, resume = g, n
            g += 1
        elif g < len(glob) and glob[g] in ("?", name[n]):
            g += 1
            n += 1
        elif star >= 0:
            resume += 1  # the last "*" takes one more character
            g, n = star + 1, resume
        else:
            return False
    return all(c == "*" for c in glob[g:])
