"""Signal state a process inherits across ``execve(2)``, and putting it right.

``signal(7)``: ignored dispositions and the blocked mask survive ``exec``; only handled signals
go back to their default. So a process started under ``nohup`` has SIGHUP ignored, one started as
a background job of a non-interactive shell has SIGINT and SIGQUIT ignored, and a parent that
blocked signals around its ``fork`` (some init systems, some CI runners) passes a blocked mask on.
Two consequences for us:

- a signal we install a handler for but which stays *blocked* is never delivered: ``watch`` would
  not stop on SIGTERM nor rescan on SIGHUP, ``run`` would not forward anything. We unblock the
  signals we handle (:func:`unblock`).
- ``run``'s command would inherit the same state and, say, ignore the SIGTERM ``run`` forwards to
  stop it gracefully. It gets what systemd gives a service instead: every signal at its default
  action and nothing blocked (:func:`reset_for_exec`, systemd's ``reset_all_signal_handlers()``
  and ``reset_signal_mask()`` before ``execve``).
"""

from __future__ import annotations

import signal
from collections.abc import Iterable

__all__ = ["reset_for_exec", "unblock"]

# SIGKILL and SIGSTOP cannot be caught, blocked or ignored: sigaction(2) refuses them.
_UNCATCHABLE = frozenset({signal.SIGKILL, signal.SIGSTOP})


def unblock(signals: Iterable[int]) -> None:
    """Unblock ``signals`` in the calling thread (call it from the main thread, where Python runs
    signal handlers), leaving the rest of the inherited mask as it is."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(signals))


def reset_for_exec() -> None:
    """Every signal to its default action and an empty blocked mask, in a forked child before
    ``exec`` (a ``preexec_fn``). Signals the C library reserves (glibc's 32 and 33) are not in
    :func:`signal.valid_signals` and stay as they are."""
    for signum in signal.valid_signals():
        if signum not in _UNCATCHABLE:
            try:
                signal.signal(signum, signal.SIG_DFL)
            except (OSError, ValueError):  # a signal this kernel or libc will not let us set
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
