"""config_reloader.testing.kill_run: run and its child (in a session of its own) both end."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import childproc
from supervise_helpers import run_argv, wait_for

from config_reloader.supervise import list_children
from config_reloader.testing import kill_run


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _leads_own_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def test_kill_run_ends_run_and_its_child_that_ignores_sigterm(tmp_path: Path) -> None:
    child_cmd = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
    with open(tmp_path / "run.log", "wb") as log:
        proc = childproc.popen(
            run_argv(["--stop-timeout=60s"], child_cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Once started, the child leads a group of its own (setsid before exec), which
        # killpg(run) would miss; right after the fork it is still in run's group.
        child = wait_for(
            lambda: next((c for c in list_children(proc.pid) if _leads_own_group(c)), None),
            15,
            "run's child in a process group of its own",
        )
        assert os.getpgid(child) != os.getpgid(proc.pid)
        kill_run(proc.pid)
        assert proc.wait(15) != 0
        wait_for(lambda: not _alive(child), 15, "the child gone too")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
