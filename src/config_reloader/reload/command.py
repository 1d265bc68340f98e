"""Reload by running a command (e.g. ``nginx -s reload``, ``systemctl reload foo``).

The command's combined output (its tail) goes into the log, at info on success and in the error
on failure, after redaction: credentials and query values of URLs in it are masked, and so is any
line holding one of the ``secrets`` given (the contents of credential files).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence

from ..errors import ReloadError, ReloadRejected, ReloadTimeout, TargetNotFound
from . import _require_positive_seconds

__all__ = ["CommandReload"]

log = logging.getLogger(__name__)

_OUTPUT_LIMIT = 64 * 1024  # bytes of the tail of combined stdout+stderr kept
_OUTPUT_SHOWN = 200  # characters of its tail kept in error messages
_OUTPUT_LOGGED = 2000  # characters of its tail logged after a success


def redact_output(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with URL credentials and query values masked and every occurrence of a non-empty
    ``secrets`` entry replaced by ``***``."""
    from ..logs import redact_text

    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact_text(text)


class CommandReload:
    """Run ``argv`` (no shell) and wait for it; exit status 0 is success.

    The command runs in its own session (process group) so that on timeout or cancellation the
    whole group, including anything it spawned, gets SIGKILL.

    Args:
        argv: program and arguments; the program is looked up in ``PATH``.
        timeout: seconds the command may run.
        secrets: called at each run for strings to mask in the output (e.g. the contents of the
            credential files); ``None`` = none.

    Raises:
        ValueError: empty ``argv`` or non-positive ``timeout``.
    """

    method = "command"

    def __init__(
        self, argv: Sequence[str], *, timeout: float, secrets: Callable[[], Sequence[str]] | None = None
    ) -> None:
        if isinstance(argv, str) or not argv:
            raise ValueError("argv must be a non-empty sequence of strings (no shell is used)")
        _require_positive_seconds("timeout", timeout)
        self.argv = tuple(argv)
        self.timeout = timeout
        self.target = f"command {self.argv[0]}"
        self._secrets = secrets

    def __repr__(self) -> str:
        return f"CommandReload({list(self.argv)!r}, timeout={self.timeout})"

    async def trigger(self) -> None:
        """Run the command once.

        Raises:
            ReloadRejected: non-zero exit; ``.status`` is the exit status (negative = killed by that
                signal) and ``.body`` the tail of its combined output.
            TargetNotFound: the program does not exist or is not executable.
            ReloadTimeout: still running after ``timeout`` seconds (its process group is killed).
        """
        # Output goes to an unlinked temp file, not a pipe: asyncio's Process.wait() only returns
        # once every pipe is closed, and a daemon started by the command would keep a pipe open.
        with tempfile.TemporaryFile() as output:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
                raise TargetNotFound(
                    f"{self.target}: cannot execute: {exc.strerror}", target=self.target
                ) from exc
            except OSError as exc:
                raise ReloadError(f"{self.target}: cannot start: {exc.strerror}", target=self.target) from exc
            try:
                async with asyncio.timeout(self.timeout):
                    code = await proc.wait()
            except TimeoutError as exc:
                await self._kill(proc)
                raise ReloadTimeout(
                    f"{self.target}: still running after {self.timeout:g}s; killed", target=self.target
                ) from exc
            except BaseException:
                await self._kill(proc)
                raise
            size = output.seek(0, os.SEEK_END)
            output.seek(max(0, size - _OUTPUT_LIMIT))
            out = output.read()  # the tail: errors come last
        text = redact_output(out.decode("utf-8", "replace"), self._secrets() if self._secrets else ()).strip()
        if code != 0:
            body = text[-_OUTPUT_SHOWN:]
            raise ReloadRejected(
                f"{self.target}: exited with status {code}" + (f": {body}" if body else ""),
                target=self.target,
                status=code,
                body=body,
            )
        fields: dict[str, str] = {"command": self.argv[0]}
        if text:
            fields["output"] = text[-_OUTPUT_LOGGED:]
        log.info("reload command succeeded", extra=fields)

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        # Reap it; bounded so cancellation/shutdown can never hang here.
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            async with asyncio.timeout(5):
                await proc.wait()
