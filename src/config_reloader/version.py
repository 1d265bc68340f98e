"""The installed version of config-reloader, as ``--version`` prints it, and the installed
distribution's metadata files.

Read from the ``config_reloader-VERSION.dist-info`` directory found on ``sys.path`` (the first
one, as :mod:`importlib.metadata` would take), not through :mod:`importlib.metadata`: with
``email``, ``csv``, ``zipfile`` and ``urllib.parse`` it costs ~70 ms of CPU, which the sidecar
would pay at its first scrape (the build-info metric), 7 s at prometheus-operator's 10
millicores, past a 5 s scrape timeout.
"""

from __future__ import annotations

import os
import sys

__all__ = ["dist_info_text", "version_text"]

_DIST_INFO_PREFIX = "config_reloader-"  # wheel dist-info dirs: normalized name, "-", version


def dist_info_text(filename: str) -> str | None:
    """The text of ``filename`` (``METADATA``, ``direct_url.json``) in the installed
    distribution's dist-info directory; ``None`` when not installed or not there. Never raises."""
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            if name.startswith(_DIST_INFO_PREFIX) and name.endswith(".dist-info"):
                try:
                    with open(os.path.join(entry or ".", name, filename), encoding="utf-8") as f:
                        return f.read(1 << 20)
                except OSError:
                    return None
    return None


def version_text() -> str:
    """The distribution's version (the ``Version:`` field of its ``METADATA``), or
    ``"0+unknown"`` in a source tree that is not installed."""
    for line in (dist_info_text("METADATA") or "").splitlines():
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
        if not line:  # the header section ends at the first empty line
            break
    return "0+unknown"
