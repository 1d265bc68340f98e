"""CommandReload with real processes."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from config_reloader.errors import ReloadRejected, ReloadTimeout, TargetNotFound
from config_reloader.reload.command import CommandReload


def proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


async def test_zero_exit_is_success(tmp_path: Path) -> None:
    out = tmp_path / "ran"
    action = CommandReload([sys.executable, "-c", f"open({str(out)!r}, 'w').write('ok')"], timeout=10)
    assert action.method == "command"
    await action.trigger()
    assert out.read_text() == "ok"


async def test_nonzero_exit_is_rejected_with_status_and_output_tail() -> None:
    action = CommandReload(
        [sys.executable, "-c", "import sys; print('x' * 5000); print('config invalid: line 3'); sys.exit(3)"],
        timeout=10,
    )
    with pytest.raises(ReloadRejected) as err:
        await action.trigger()
    assert err.value.status == 3
    assert err.value.body.endswith("config invalid: line 3")
    assert len(err.value.body) <= 200


async def test_killed_by_signal_is_negative_status() -> None:
    # The command runs in-process from pytest and inherits its dispositions (SIGTERM is ignored
    # under some CI runners), so it restores SIGTERM's default action itself before the kill.
    code = (
        "import os, signal; signal.signal(signal.SIGTERM, signal.SIG_DFL); "
        "os.kill(os.getpid(), signal.SIGTERM)"
    )
    action = CommandReload([sys.executable, "-c", code], timeout=10)
    with pytest.raises(ReloadRejected) as err:
        await action.trigger()
    assert err.value.status == -15


async def test_missing_program_is_target_not_found(tmp_path: Path) -> None:
    with pytest.raises(TargetNotFound, match="cannot execute"):
        await CommandReload([str(tmp_path / "nope")], timeout=5).trigger()


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    # the command starts a grandchild that would outlive a plain kill of the command
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    action = CommandReload([sys.executable, "-c", script], timeout=1.0)
    with pytest.raises(ReloadTimeout, match="killed"):
        await action.trigger()
    grandchild = int(pidfile.read_text())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while proc_state(grandchild) not in (None, "Z"):  # gone, or killed and waiting to be reaped
        assert loop.time() < deadline, "grandchild survived the timeout"
        await asyncio.sleep(0.02)


async def test_cancellation_kills_the_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "cmd.pid"
    action = CommandReload(
        [
            sys.executable,
            "-c",
            f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
        ],
        timeout=30,
    )
    task = asyncio.create_task(action.trigger())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not (pidfile.exists() and pidfile.read_text()):
        assert loop.time() < deadline
        await asyncio.sleep(0.01)
    pid = int(pidfile.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped by CommandReload


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="argv"):
        CommandReload([], timeout=1)
    with pytest.raises(ValueError, match="argv"):
        CommandReload("nginx -s reload", timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        CommandReload(["true"], timeout=0)


async def test_daemon_keeping_the_pipe_open_does_not_block_success(tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    script = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"  # inherits stdout
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "print('started')\n"
    )
    action = CommandReload([sys.executable, "-c", script], timeout=20)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        await action.trigger()
        assert loop.time() - start < 15  # not the 20 s timeout
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), 9)
