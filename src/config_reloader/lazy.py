"""Package attributes imported on first access (PEP 562 module ``__getattr__``).

A package whose ``import`` must stay cheap (``config_reloader`` itself, ``cpu``, ``reload``) maps
each public name to the module that defines it and installs the pair this returns::

    __getattr__, __dir__ = lazy_attributes(globals(), {"probe_machine": "config_reloader.cpu.probe"})

A value ``"pkg.mod"`` means the attribute of the same name in ``pkg.mod``; ``"pkg.mod:"`` means
the module itself. The first access imports the module and caches the value in the package.
Importing this module imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    namespace: dict[str, Any], table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package whose ``globals()`` is ``namespace``.

    ``__getattr__`` raises :class:`AttributeError` for a name not in ``table`` (also for the
    names the import system probes, such as ``__path__`` on a module).
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import sys

        module_name, colon, attr = target.partition(":")
        # __import__, not importlib.import_module: `import importlib` (with warnings, types) costs
        # ~0.3 ms of the `condition` start-up
        __import__(module_name)
        module = sys.modules[module_name]
        value = module if colon and not attr else getattr(module, attr or name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
