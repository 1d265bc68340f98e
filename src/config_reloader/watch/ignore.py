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
(``fnmatch.fnmatchcase``: ``*``, ``?``, ``[...]``; case-sensitive). Globs made of ``*`` and
plain characters, such as every default one, are matched with ``str`` methods
(:func:`star_match`); only a glob with ``?`` or ``[`` goes through ``fnmatch`` and ``re`` (with
``enum``, ``functools`` and ``collections``, ~11 ms of CPU at start: the init container's
one-shot render loads none of them). Explicitly configured files
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

__all__ = ["DEFAULT_IGNORE_GLOBS", "PathFilter", "compile_ignore", "keep_all", "star_match"]

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
    # Sorted by the cheapest test that decides them: a set for plain names, one startswith() or
    # endswith() call for "X*" and "*X", star_match for the other globs of * (the filter runs on
    # every file of every snapshot), a regular expression for ? and [...].
    literals: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    starred: list[tuple[str, ...]] = []
    others: list[str] = []
    for glob in globs:
        if not glob or "/" in glob:
            raise ValueError(f"ignore glob {glob!r} must be a non-empty base-name pattern (no '/')")
        parts = tuple(glob.split("*"))
        if "?" in glob or "[" in glob:
            others.append(glob)
        elif len(parts) == 1:
            literals.add(glob)
        elif len(parts) == 2 and not parts[1]:
            prefixes.append(parts[0])
        elif len(parts) == 2 and not parts[0]:
            suffixes.append(parts[1])
        else:
            starred.append(parts)
    if not (literals or prefixes or suffixes or starred or others):
        return keep_all
    starts, ends = tuple(prefixes), tuple(suffixes)
    starred_starts = tuple(parts[0] for parts in starred)  # one call rules most names out
    regex_match = _compile_regex(others) if others else None
    basename = os.path.basename

    def keep(path: str) -> bool:
        name = basename(path)
        if name in literals or name.startswith(starts) or name.endswith(ends):
            return False
        if starred and name.startswith(starred_starts):
            for parts in starred:
                if star_match(parts, name):
                    return False
        return regex_match is None or regex_match(name) is None

    return keep


def _compile_regex(globs: list[str]) -> Callable[[str], object]:
    """One regular expression's ``match`` for globs with ``?`` or ``[...]`` (``fnmatch.translate``)."""
    # Imported only for such a glob (none of the defaults has one): see the module docstring.
    import fnmatch
    import re

    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)).match


def star_match(parts: tuple[str, ...], name: str) -> bool:
    """Whether ``name`` matches the glob ``"*".join(parts)`` as a whole, as
    ``fnmatch.fnmatchcase`` decides for a glob whose only wildcard is ``*``.

    Grammar: ``parts`` is the glob split at each ``*`` (``".*.swp"`` -> ``(".", ".swp")``); a
    ``*`` matches any run of characters, the empty one too, and every other character itself
    (case-sensitive). So ``name`` starts with the first part, ends with the last, and holds the
    parts between in order, without overlaps; the leftmost place of each middle part is as good
    as any other (a later one leaves less room for the rest). ``str`` methods only.
    """
    first, last = parts[0], parts[-1]
    if len(parts) == 1:
        return name == first
    end = len(name) - len(last)
    if end < len(first) or not name.startswith(first) or not name.endswith(last):
        return False
    pos = len(first)
    for part in parts[1:-1]:
        found = name.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True
