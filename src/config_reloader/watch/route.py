"""One inotify event on a watched directory -> the paths it hints at (:func:`route_event`).

In a watched dir every name is a hint; in a config file's parent only the file's own name and
kubelet's ``..*`` names are; a watch standing in for a missing path, or on a symlink's parent,
only says when to re-arm. Events are hints, never facts: nothing here reads a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config_reloader.watch.ignore import PathFilter
from config_reloader.watch.plan import CONTENT_EVENTS, NAME_CHANGED, SELF_GONE, Role
from config_reloader.watch.snapshot import KUBELET_DATA, is_kubelet_internal

__all__ = ["Hint", "route_event"]


@dataclass(frozen=True, slots=True)
class Hint:
    """``path`` may have changed. ``content``: the event may change what a reader sees (not
    ``IN_ATTRIB`` alone, not our own output); ``writer``: the event tells about a writer of
    ``path`` (its open, close or rename; see :mod:`config_reloader.watch.writers`)."""

    path: str
    content: bool
    writer: bool = False


def route_event(
    mask: int,
    name: str,
    roles: Sequence[Role],
    path_filter: PathFilter,
    is_own: Callable[[str], bool],
) -> tuple[list[Hint], bool]:
    """The hints of one event (``mask``, ``name``) on a directory watched for ``roles``, and
    whether the watches must be recomputed.

    ``path_filter`` drops names in watched dirs that are not configuration; ``is_own`` marks the
    files this process writes itself (hinted, but not as a content change).
    """
    # Of the kubelet's internal names only the ..data swap changes what a reader sees (its
    # ..<timestamp> dirs come and go around it, ..data_tmp is renamed onto it).
    content = bool(mask & CONTENT_EVENTS) and (
        not name or not is_kubelet_internal(name) or name == KUBELET_DATA
    )
    if mask & SELF_GONE:
        return [Hint(r.target, content) for r in roles if r.kind in ("dir", "parent", "resolved")], True
    hints: list[Hint] = []
    rearm = False
    for role in roles:
        if role.kind == "dir":
            if not name or is_kubelet_internal(name):
                hints.append(Hint(role.target, content))
            else:
                path = os.path.join(role.target, name)
                if path_filter(path):  # else a writer's temp file, an editor backup
                    hints.append(Hint(path, content and not is_own(path), writer=True))
        elif role.kind == "parent":
            if name == role.name:
                hints.append(Hint(role.target, content, writer=True))
                # the name now may be (or no longer be) a symlink to elsewhere
                rearm |= bool(mask & NAME_CHANGED)
            elif is_kubelet_internal(name):
                hints.append(Hint(role.target, content))
                rearm |= bool(mask & NAME_CHANGED) and os.path.islink(role.target)
        elif role.kind == "resolved":
            if name == role.name:
                hints.append(Hint(role.target, content, writer=True))
                rearm |= bool(mask & NAME_CHANGED)
        elif role.kind == "link":
            if name == role.name:
                hints.append(Hint(role.target, content))
                rearm = True
        elif name == role.name:  # ancestor: the next component of a missing path moved
            rearm = True
    return hints, rearm
