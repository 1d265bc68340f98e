"""``watch`` and ``run`` started with signals ignored and blocked by their parent (``nohup``, a
shell's background job, a runner that blocks signals around ``fork``): they still receive the
signals they handle, and ``run``'s command starts with every signal at its default action and
nothing blocked, as systemd starts a service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import childproc
from supervise_helpers import run_argv, wait_for

INHERITED_IGNORED = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
INHERITED_BLOCKED = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1}


def _hostile_parent_state() -> None:
    """In the forked child, after childproc's reset: what a hostile parent would have left."""
    for sig in INHERITED_IGNORED:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, INHERITED_BLOCKED)


def _masks(status: str) -> dict[str, int]:
    return {
        k: int(v, 16)
        for k, v in (line.split(":\t") for line in status.splitlines())
        if k in ("SigIgn", "SigBlk")
    }


def _bits(sigs: object) -> int:
    return sum(1 << (int(s) - 1) for s in sigs)  # type: ignore[attr-defined]


def test_watch_unblocks_and_handles_its_signals(tmp_path: Path) -> None:
    cfg, out, log = tmp_path / "in.yaml", tmp_path / "out.yaml", tmp_path / "log"
    cfg.write_bytes(b"a: 1\n")
    with open(log, "wb") as logf:
        proc = childproc.popen(
            [sys.executable, "-m", "config_reloader", "watch", f"--config-file={cfg}",
             f"--config-envsubst-file={out}", "--watch-interval=1h", "--reload-url=http://127.0.0.1:9/-/reload"],
            stdout=logf, stderr=subprocess.STDOUT, preexec_fn=_hostile_parent_state,
        )  # fmt: skip
    try:
        wait_for(lambda: "started watching" in log.read_text(), timeout=30, what="watch started")
        with open(f"/proc/{proc.pid}/status") as f:
            masks = _masks(f.read())
        assert masks["SigBlk"] & _bits({signal.SIGHUP, signal.SIGTERM, signal.SIGINT}) == 0, masks
        assert masks["SigBlk"] & _bits({signal.SIGUSR1}), "the test did not set up the inherited mask"
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "received SIGHUP" in log.read_text(), timeout=15, what="SIGHUP handled")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_forwards_and_its_command_starts_with_default_signals(tmp_path: Path) -> None:
    status = tmp_path / "status"
    # The command writes its signal masks, then waits for SIGTERM (its default action: die).
    command = [
        sys.executable, "-c",
        "import os, sys, time\n"
        f"t = open('/proc/self/status').read(); open({str(status) + '.tmp'!r}, 'w').write(t)\n"
        f"os.rename({str(status) + '.tmp'!r}, {str(status)!r})\n"
        "time.sleep(120)\n",
    ]  # fmt: skip
    log = tmp_path / "log"
    with open(log, "wb") as logf:
        proc = childproc.popen(
            run_argv(["--stop-timeout", "60s"], command),
            stdout=logf, stderr=subprocess.STDOUT, preexec_fn=_hostile_parent_state, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(status.exists, timeout=30, what="the command wrote its signal masks")
        masks = _masks(status.read_text())
        assert masks["SigIgn"] & _bits(INHERITED_IGNORED) == 0, masks
        assert masks["SigBlk"] == 0, masks
        with open(f"/proc/{proc.pid}/status") as f:
            run_masks = _masks(f.read())
        assert run_masks["SigBlk"] & _bits({signal.SIGHUP, signal.SIGTERM, signal.SIGINT}) == 0, run_masks
        proc.send_signal(signal.SIGTERM)
        # run forwards SIGTERM; the command dies of it at once (not SIGKILL 60 s later)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
