"""The reload engine as a package, one job per module:

* :mod:`~config_reloader.reconcile.options`: :class:`ReloaderOptions`, the reload settings;
* :mod:`~config_reloader.reconcile.source`: the change-source and clock interfaces;
* :mod:`~config_reloader.reconcile.apply`: snapshot -> render -> validate -> atomic output;
* :mod:`~config_reloader.reconcile.guard`: the read-consistency guard (discard, hold, recheck);
* :mod:`~config_reloader.reconcile.actions`: the one factory of reload actions;
* :mod:`~config_reloader.reconcile.owner`: the owner task (hints -> apply passes -> desired);
* :mod:`~config_reloader.reconcile.state` and :mod:`~config_reloader.reconcile.worker`: the
  digests and the reload worker (retries, supersede);
* :mod:`~config_reloader.reconcile.loop`: :class:`Reloader`, the loop that ties them together;
* :mod:`~config_reloader.reconcile.service`: running it as a process (signals, exit statuses).
* :mod:`~config_reloader.reconcile.once`: the init container's one-shot render, without the loop.

Names are imported from their modules on first use (module ``__getattr__``): ``ReloaderOptions``
and the one-shot render must not load the loop (asyncio, metrics) for the CLI's flag checks and
the init container.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Any

    from config_reloader.reconcile.actions import build_action
    from config_reloader.reconcile.loop import Reloader
    from config_reloader.reconcile.options import (
        DEFAULT_RELOAD_URL,
        DEFAULT_RUNTIMEINFO_URL,
        ReloaderOptions,
        statefulset_ordinal,
    )
    from config_reloader.reconcile.source import ChangeSourceProtocol, Clock, ScriptedChangeSource

__all__ = [
    "DEFAULT_RELOAD_URL",
    "DEFAULT_RUNTIMEINFO_URL",
    "ChangeSourceProtocol",
    "Clock",
    "Reloader",
    "ReloaderOptions",
    "ScriptedChangeSource",
    "build_action",
    "statefulset_ordinal",
]

_LAZY = {
    "DEFAULT_RELOAD_URL": "options",
    "DEFAULT_RUNTIMEINFO_URL": "options",
    "ReloaderOptions": "options",
    "statefulset_ordinal": "options",
    "ChangeSourceProtocol": "source",
    "Clock": "source",
    "ScriptedChangeSource": "source",
    "Reloader": "loop",
    "build_action": "actions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
