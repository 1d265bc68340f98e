"""Start-up decisions that keep the sidecar small when a feature is known to be unused.

``asyncio`` imports :mod:`ssl` when it is imported, only to offer TLS transports, and works without
it (as on a Python built without OpenSSL); ``http.client`` did too, before the reload client became
:mod:`config_reloader.reload.wire`, which imports ssl only for an ``https`` URL. Loading it costs
~4.4 MiB RSS and ~5 ms CPU (measured on Debian's Python 3.11: ``import asyncio, http.client``
peaks at 20.1 MiB with ssl, 15.7 MiB without), about a seventh of the reloader container's
memory limit. ``watch`` knows from its flags whether it will ever speak TLS (an ``https`` reload
or runtime-info URL; a web config with TLS loads ssl itself when it is checked at start), so
when it will not, it tells the import system that ssl is unavailable before the engine loads.
"""

from __future__ import annotations

import sys

__all__ = ["forgo_ssl"]


def forgo_ssl() -> bool:
    """Make ``import ssl`` raise ImportError from now on in this process, unless ssl is already
    imported (then nothing changes). Returns True if it was forgone.

    Only for entry points that have checked that nothing will need TLS: any later ``import ssl``
    fails with "import of ssl halted; None in sys.modules".
    """
    if "ssl" in sys.modules:
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]  # the import system's "not available"
    return True
