"""config-reloader: reload services exactly when their config content changes; gate and pin them
on CPU features with systemd-style conditions evaluated on every CPU.

The public surface is this module's ``__all__``. Names are imported lazily (module ``__getattr__``)
so that ``import config_reloader`` stays cheap and the ``condition`` command never imports aiohttp,
prometheus_client or the inotify layer.
"""

from __future__ import annotations

from config_reloader.lazy import lazy_attributes

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from config_reloader import errors
    from config_reloader.atomic import atomic_write
    from config_reloader.reconcile import Reloader, ReloaderOptions
    from config_reloader.watch import watch_changes

__all__ = [
    "Reloader",
    "ReloaderOptions",
    "atomic_write",
    "errors",
    "watch_changes",
]

_LAZY = {
    "Reloader": "config_reloader.reconcile",
    "ReloaderOptions": "config_reloader.reconcile",
    "atomic_write": "config_reloader.atomic",
    "watch_changes": "config_reloader.watch",
    "errors": "config_reloader.errors:",
}

__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)
