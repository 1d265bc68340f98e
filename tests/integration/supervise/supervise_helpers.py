"""Helpers for ``config-reloader run`` tests: real processes, real signals, deadlines everywhere.

(A uniquely named module, not ``conftest``: several test directories have a conftest.py and
``from conftest import`` would pick whichever was imported first.)

The ``run_cli(*run_args, service=[...])`` fixture (conftest.py) starts ``python -m
config_reloader run RUN_ARGS -- python tests/support/testservice.py --state STATE SERVICE_ARGS``
(or any ``command=``) with its log in a temp file; the returned :class:`RunProc` is killed at
teardown if still alive.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[3]
TESTSERVICE = str(ROOT / "tests" / "support" / "testservice.py")
T = TypeVar("T")


def wait_for(
    pred: Callable[[], T], timeout: float = 15.0, what: str = "condition", interval: float = 0.02
) -> T:
    """Poll ``pred`` until truthy (returned) or raise TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = pred()
            if value:
                return value
            last = value
        except (OSError, ValueError, KeyError) as exc:  # state file not there yet / mid-rename
            last = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def read_json(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def atomic_write_text(path: str | Path, text: str) -> None:
    from config_reloader.testing import atomic_replace

    atomic_replace(str(path), text.encode())


@dataclass
class RunProc:
    proc: subprocess.Popen[bytes]
    state: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def read_state(self) -> dict[str, Any]:
        return read_json(self.state)

    def wait_state(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0, what: str = ""
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            if self.proc.poll() is not None and not self.state.exists():
                raise AssertionError(f"run exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            st = self.read_state()
            return st if pred(st) else None

        try:
            return wait_for(check, timeout, what or "service state")
        except TimeoutError as exc:
            st = self.state.read_text() if self.state.exists() else "<none>"
            raise TimeoutError(f"{exc}\nstate: {st}\nlog:\n{self.log()[-3000:]}") from None

    def wait_exit(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"run still running after {timeout}s:\n{self.log()[-3000:]}") from None

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_log(self, text: str, timeout: float = 15.0) -> None:
        try:
            wait_for(lambda: text in self.log(), timeout, f"log line {text!r}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\nlog:\n{self.log()[-3000:]}") from None


def run_argv(run_args: Sequence[str], command: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "config_reloader", "run", *run_args, "--", *command]


def service_cmd(state: Path, *args: str) -> list[str]:
    return [sys.executable, TESTSERVICE, "--state", str(state), *args]
