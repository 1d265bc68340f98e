"""Suite-wide set-up: ``tests/support`` on ``sys.path`` (``childproc``: how tests start processes),
and an empty blocked-signal mask for pytest itself."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))


def pytest_configure() -> None:
    """Unblock every signal in pytest's main thread (threads started later inherit its mask).

    The mask survives exec, so a suite started with SIGTERM blocked ran the product in-process
    with it blocked: children of ``run``'s supervisor and of ``--reload-command`` ignored the
    graceful stop. Unlike an ignored disposition (kept: it is what protects a ``nohup`` run), a
    blocked signal protects nothing; it only stays pending.
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
