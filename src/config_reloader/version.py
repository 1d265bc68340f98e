"""The installed version of config-reloader, as ``--version`` prints it."""

from __future__ import annotations

__all__ = ["version_text"]


def version_text() -> str:
    """The distribution's version (``importlib.metadata``), or ``"0+unknown"`` in a source tree
    that is not installed. ``importlib.metadata`` is imported here, when asked: it costs ~10 ms
    of start-up that no other command should pay."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("config-reloader")
    except PackageNotFoundError:
        return "0+unknown"
