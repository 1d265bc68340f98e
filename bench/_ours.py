"""Our reloader under test: the real ``config-reloader watch`` CLI as a subprocess.

It posts to a ``ReloadEndpoint`` in the harness process, which stamps arrival and reads the files.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Sequence

from _common import now_ns, proc_stats, reloader_argv, spawn, stop
from _endpoint import ReloadEndpoint

__all__ = ["OurReloader", "watch_flags"]


@functools.cache
def watch_flags() -> str:
    """The ``watch --help`` text (to pass optional flags only when the CLI knows them)."""
    out = subprocess.run([*reloader_argv(), "watch", "--help"], capture_output=True, text=True, timeout=30)
    return out.stdout


class OurReloader:
    """``config-reloader watch --watched-dir=... --reload-url=<endpoint> --delay-interval=...``.

    Args:
        watched_dirs: directories given as ``--watched-dir``.
        endpoint: where reloads go (must be entered already).
        delay: ``--delay-interval`` in seconds (Go duration passed on the command line).
        extra: more flags, verbatim.
        prefix: argv put before the command (e.g. ``setpriv --reuid=65534 ...`` to run it as
            another user).
    """

    def __init__(
        self,
        watched_dirs: Sequence[str],
        endpoint: ReloadEndpoint,
        *,
        delay: float,
        config_file: str | None = None,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        argv = [
            *prefix,
            *reloader_argv(),
            "watch",
            f"--reload-url={endpoint.reload_url}",
            f"--delay-interval={_go(delay)}",
        ]
        argv += [f"--watched-dir={d}" for d in watched_dirs]
        if config_file:
            argv.append(f"--config-file={config_file}")
        help_text = watch_flags()
        if "--log-level" in help_text:
            argv.append("--log-level=warn")
        if "--retry-interval" in help_text:
            argv.append("--retry-interval=100ms")
        argv += list(extra)
        self.argv = argv
        self.endpoint = endpoint
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.started_ns = 0
        self._log = tempfile.NamedTemporaryFile(prefix="crbench-log-", suffix=".txt", delete=False)  # noqa: SIM115

    def start(self, timeout: float = 120.0) -> float:
        """Start; wait for the initial reload request. Returns seconds from spawn to that request.

        Raises:
            RuntimeError: no request within ``timeout`` seconds, or the process exited (log attached).
        """
        n0 = self.endpoint.count()
        self.started_ns = now_ns()
        self.proc = spawn(self.argv, stdout=self._log.fileno(), stderr=self._log.fileno(), env=self.env)
        ok = self.endpoint.wait_for(
            lambda a: len(a) > n0 or self.proc.poll() is not None,  # type: ignore[union-attr]
            timeout,
        )
        if not ok or self.proc.poll() is not None:
            log = self.log_tail()
            self.close()
            raise RuntimeError(f"config-reloader watch did not send its initial reload: {log}")
        first = self.endpoint.snapshot()[n0]
        return (first.at_ns - self.started_ns) / 1e9

    def log_tail(self, n: int = 2000) -> str:
        try:
            with open(self._log.name, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stats(self):  # type: ignore[no-untyped-def]
        return proc_stats(self.pid)

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass


def _go(seconds: float) -> str:
    """Seconds as a Go duration string ("0s", "1s", "250ms")."""
    if seconds == 0:
        return "0s"
    if seconds >= 1 and float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"
