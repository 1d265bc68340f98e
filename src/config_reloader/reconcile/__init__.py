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
"""

from __future__ import annotations

from config_reloader.lazy import lazy_attributes

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
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

# Imported on first use: the CLI checks its flags with ReloaderOptions without loading the loop
# (asyncio, the metrics).
__getattr__, __dir__ = lazy_attributes(
    globals(),
    {
        "DEFAULT_RELOAD_URL": "config_reloader.reconcile.options",
        "DEFAULT_RUNTIMEINFO_URL": "config_reloader.reconcile.options",
        "ReloaderOptions": "config_reloader.reconcile.options",
        "statefulset_ordinal": "config_reloader.reconcile.options",
        "ChangeSourceProtocol": "config_reloader.reconcile.source",
        "Clock": "config_reloader.reconcile.source",
        "ScriptedChangeSource": "config_reloader.reconcile.source",
        "Reloader": "config_reloader.reconcile.loop",
        "build_action": "config_reloader.reconcile.actions",
    },
)
