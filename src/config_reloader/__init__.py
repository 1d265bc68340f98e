"""config-reloader: reload services exactly when their config content changes; gate and pin them
on CPU features with systemd-style conditions evaluated on every CPU.

The public surface is this module's ``__all__``. Names are imported lazily (module ``__getattr__``)
so that ``import config_reloader`` stays cheap and the ``condition`` command never imports aiohttp,
prometheus_client or the inotify layer.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Reloader",
    "ReloaderOptions",
    "atomic_write",
    "errors",
    "watch_changes",
]

# public name -> "module:attribute" (attribute empty = the module itself)
_LAZY = {
    "Reloader": "config_reloader.reconcile:Reloader",
    "ReloaderOptions": "config_reloader.reconcile:ReloaderOptions",
    "atomic_write": "config_reloader.atomic:atomic_write",
    "watch_changes": "config_reloader.watch:watch_changes",
    "errors": "config_reloader.errors:",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'config_reloader' has no attribute {name!r}")
    import importlib  # here, not at the top: `import config_reloader` stays free (start-up budget)

    module, _, attr = target.partition(":")
    mod = importlib.import_module(module)
    value = getattr(mod, attr) if attr else mod
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
