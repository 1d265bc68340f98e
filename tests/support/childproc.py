"""Start the processes of a test with the signal state the test assumes, whatever pytest inherited.

A process keeps its *ignored* signal dispositions and its blocked signal mask across ``execve(2)``
(``signal(7)``: only handled signals are reset to the default). So the children of a suite run
under ``nohup`` start with SIGHUP ignored, and those of a suite started as a background job of a
non-interactive shell (``pytest &`` in a script, some CI runners) with SIGINT and SIGQUIT ignored.
A test that expects a child to die of SIGHUP, or to handle SIGINT, would then test the runner's
start-up instead of the product. ``subprocess``' ``restore_signals`` resets only SIGPIPE, SIGXFZ
and SIGXFSZ.

Every process a test starts goes through :func:`popen`, :func:`run` or :func:`exec_async` (a unit
test checks that the suite has no other spawn): in the child, between ``fork`` and ``exec``, the
signals in :data:`RESET_SIGNALS` get their default action and the blocked mask is emptied. pytest
itself keeps what it inherited (``nohup`` still protects the run from a hang-up). Processes the
product starts (``run``'s child, ``--reload-command``) are not touched: they inherit from the
product process, which is what a user's deployment does too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Signals whose disposition a test may rely on. SIGCHLD: an ignored SIGCHLD makes the kernel reap
#: children at once, so ``waitpid`` finds nothing; the job-control stops: a test's child must
#: never stop on terminal I/O.
RESET_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGPIPE,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGCHLD,
    signal.SIGTSTP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGXFSZ,
)


def reset_signal_state() -> None:
    """Give every signal of :data:`RESET_SIGNALS` its default action and unblock all signals.

    Meant for the child between fork and exec (``preexec_fn``); calling it in pytest itself would
    undo ``nohup``.
    """
    for signum in RESET_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _preexec(extra: Callable[[], object] | None) -> Callable[[], None]:
    def setup() -> None:
        reset_signal_state()
        if extra is not None:
            extra()

    return setup


def popen(args: Sequence[str] | str, **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen`` with the child's signal state reset; a given ``preexec_fn`` runs after."""
    kwargs["preexec_fn"] = _preexec(kwargs.get("preexec_fn"))
    return subprocess.Popen(args, **kwargs)


def run(args: Sequence[str] | str, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` with the child's signal state reset; a given ``preexec_fn`` runs after."""
    kwargs["preexec_fn"] = _preexec(kwargs.get("preexec_fn"))
    return subprocess.run(args, **kwargs)


async def exec_async(program: str, *args: str, **kwargs: Any) -> asyncio.subprocess.Process:
    """``asyncio.create_subprocess_exec`` with the child's signal state reset."""
    kwargs["preexec_fn"] = _preexec(kwargs.get("preexec_fn"))
    return await asyncio.create_subprocess_exec(program, *args, **kwargs)


def console_script(name: str = "config-reloader") -> str | None:
    """The installed console script ``name`` of the interpreter running the tests (its ``bin``
    dir), else the one on ``PATH``, else None. Tests must not depend on an activated venv: with
    ``.venv/bin/python -m pytest`` the venv's ``bin`` is not on ``PATH``, and another install
    there would be tested instead."""
    own = Path(sys.executable).parent / name
    if own.is_file() and os.access(own, os.X_OK):
        return str(own)
    return shutil.which(name)
