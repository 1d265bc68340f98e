"""``run`` starts its child in a session and process group of its own: a terminal's Ctrl-C reaches
the child once (through run), stop signals and the final SIGKILL reach the child's own children,
application signals (SIGHUP, SIGUSR1, SIGUSR2) the child alone, Ctrl-Z and fg stop and continue the
child. Real processes, real signals, a real pseudo-terminal; every wait has a deadline.

The child is ``sigcounter.py`` (records each signal with its sender's pid, see its docstring) or a
``sh -c`` script with a background ``sleep`` as grandchild.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import sys
import termios
import threading
from pathlib import Path

import childproc
import pytest
from supervise_helpers import run_argv, wait_for

SIGCOUNTER = str(Path(__file__).with_name("sigcounter.py"))


def _counter(
    out: Path, *exit_on: str, grandchild: Path | None = None, grandchild_exit_on: str = ""
) -> list[str]:
    argv = [sys.executable, SIGCOUNTER, "--out", str(out)]
    for name in exit_on:
        argv += ["--exit-on", name]
    if grandchild is not None:
        argv += ["--grandchild-out", str(grandchild)]
        if grandchild_exit_on:
            argv += ["--grandchild-exit-on", grandchild_exit_on]
    return argv


def _ready(out: Path) -> list[int]:
    """The numbers of the ``ready`` line: pid, pgid, sid (and the grandchild's pid)."""

    def line() -> list[int] | None:
        first = out.read_text().partition("\n")
        return [int(x) for x in first[0].split()[1:]] if first[1] and first[0].startswith("ready") else None

    return wait_for(line, 30, f"{out.name}: ready line")


def _records(out: Path) -> list[tuple[str, int]]:
    lines = out.read_text().splitlines()[1:]
    return [(name, int(pid)) for name, pid in (ln.split() for ln in lines)]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of ``pid``, or None if there is no such process."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    return rest[0].decode(), int(rest[19])


def _running(pid: int, started: int) -> bool:
    """True while the process ``pid`` that started at ``started`` exists and is not a zombie."""
    st = _stat(pid)
    return st is not None and st[1] == started and st[0] not in ("Z", "X")


def _wait_pid_file(path: Path) -> tuple[int, int]:
    pid = int(wait_for(lambda: path.read_text().strip(), 30, f"{path.name} written"))
    st = _stat(pid)
    assert st is not None, f"{pid} already gone"
    return pid, st[1]


# --- Ctrl-C: once, through run --------------------------------------------------------------------
def test_sigint_to_runs_process_group_reaches_the_child_once(run_cli, tmp_path):
    """What a terminal does on Ctrl-C: SIGINT to the foreground process group, here run's (the
    fixture starts run in a session of its own, so the test runner is not hit)."""
    out, gout = tmp_path / "child.txt", tmp_path / "grandchild.txt"
    rp = run_cli(
        "--stop-timeout",
        "60s",
        command=_counter(out, "SIGUSR1", grandchild=gout, grandchild_exit_on="SIGINT"),
    )
    pid, pgid, sid, _gc = _ready(out)
    assert pid == pgid == sid != rp.pid  # a session and process group of its own
    os.killpg(rp.pid, signal.SIGINT)
    wait_for(lambda: any(n == "SIGINT" for n, _ in _records(out)), 15, "SIGINT recorded by the child")
    # signals from run arrive in the order run sends them: a second SIGINT would come before this
    rp.send(signal.SIGUSR1)
    assert rp.wait_exit() == 0
    assert _records(out) == [("SIGINT", rp.pid), ("SIGUSR1", rp.pid)]
    assert _records(gout) == [("SIGINT", rp.pid)]  # the grandchild too, once, through run


def test_ctrl_c_on_a_pseudo_terminal_reaches_the_child_once(tmp_path):
    """The same through a real terminal: run is the session leader of a pty and its foreground
    job; Ctrl-C typed into the pty makes the kernel signal the foreground process group."""
    out = tmp_path / "child.txt"
    master, slave = pty.openpty()

    def make_controlling_tty() -> None:  # after setsid (start_new_session), as login_tty(3) does
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = childproc.popen(
        run_argv(["--stop-timeout", "60s"], _counter(out, "SIGUSR1")),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=make_controlling_tty,
        cwd=str(tmp_path),
    )
    os.close(slave)
    output: list[bytes] = []

    def drain() -> None:  # run logs to the pty: keep reading so it never blocks on a full buffer
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 4096):
                output.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        pid, _pgid, sid, *_ = _ready(out)
        assert sid == pid  # not in the terminal's session
        assert os.tcgetpgrp(master) == proc.pid  # run's group has the terminal
        os.write(master, b"\x03")  # Ctrl-C (VINTR)
        wait_for(lambda: any(n == "SIGINT" for n, _ in _records(out)), 15, "SIGINT recorded by the child")
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(30) == 0, b"".join(output).decode(errors="replace")[-3000:]
        assert _records(out) == [("SIGINT", proc.pid), ("SIGUSR1", proc.pid)]
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(_ready(out)[0], signal.SIGKILL)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        os.close(master)
        reader.join(10)


# --- which signals reach the grandchildren ----------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2])
def test_application_signals_go_to_the_child_alone_stop_signals_to_its_group(run_cli, tmp_path, sig):
    out, gout = tmp_path / "child.txt", tmp_path / "grandchild.txt"
    rp = run_cli(command=_counter(out, "SIGTERM", grandchild=gout))
    _ready(out)  # signals blocked: an early SIGHUP cannot kill it
    rp.send(sig)
    wait_for(lambda: _records(out), 15, f"{sig.name} recorded by the child")
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0
    assert _records(out) == [(sig.name, rp.pid), ("SIGTERM", rp.pid)]
    # a SIGHUP/USR1/USR2 sent to the group would have reached the grandchild before the SIGTERM
    assert _records(gout) == [("SIGTERM", rp.pid)]


# --- nothing of the group outlives run --------------------------------------------------------------
def test_sigkill_after_stop_timeout_ends_the_grandchildren_too(run_cli, tmp_path):
    pidfile = tmp_path / "sleep.pid"
    # the shell and its background sleep both ignore SIGTERM (an ignored signal stays ignored in
    # the children, across exec): only the SIGKILL after --stop-timeout ends them
    script = f"trap '' TERM; sleep 1000 & echo $! > {pidfile}; wait"
    rp = run_cli("--stop-timeout", "300ms", command=["sh", "-c", script])
    gc, started = _wait_pid_file(pidfile)
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 128 + signal.SIGKILL
    assert "sending SIGKILL" in rp.log()
    wait_for(lambda: not _running(gc, started), 10, f"grandchild {gc} gone")


def test_grandchild_still_running_after_the_child_exited_is_killed_at_the_stop_timeout(run_cli, tmp_path):
    pidfile = tmp_path / "sleep.pid"
    # the shell exits 3 on SIGTERM; the sleep it started while SIGTERM was ignored ignores it
    script = f"trap '' TERM; sleep 1000 & echo $! > {pidfile}; trap 'exit 3' TERM; wait"
    rp = run_cli("--stop-timeout", "300ms", command=["sh", "-c", script])
    gc, started = _wait_pid_file(pidfile)
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 3  # the child's status, not 137: the child itself exited
    assert "still running after the stop timeout: sending SIGKILL" in rp.log()
    wait_for(lambda: not _running(gc, started), 10, f"grandchild {gc} gone")


def test_group_left_behind_by_a_child_that_exits_gets_the_stop_signal(run_cli, tmp_path):
    pidfile = tmp_path / "sleep.pid"
    rp = run_cli("--stop-timeout", "30s", command=["sh", "-c", f"sleep 1003 & echo $! > {pidfile}; exit 5"])
    assert rp.wait_exit() == 5  # well before --stop-timeout: the sleep dies of the SIGTERM
    assert "stopping the rest of its process group" in rp.log()
    assert "sending SIGKILL" not in rp.log()
    gc = int(pidfile.read_text())  # written before the shell exited

    def sleep_running() -> bool:
        try:
            cmdline = Path(f"/proc/{gc}/cmdline").read_bytes()
        except OSError:
            return False
        st = _stat(gc)
        return cmdline == b"sleep\x001003\x00" and st is not None and st[0] not in ("Z", "X")

    wait_for(lambda: not sleep_running(), 10, f"grandchild {gc} gone")


# --- Ctrl-Z and fg ----------------------------------------------------------------------------------
def test_sigtstp_stops_the_child_and_run_sigcont_continues_both(run_cli):
    rp = run_cli(service=["--term-exit-code", "0"])
    child = rp.wait_state(lambda s: s["ready"], what="service ready")["pid"]

    def states() -> tuple[str, str]:
        a, b = _stat(rp.pid), _stat(child)
        assert a is not None and b is not None
        return a[0], b[0]

    os.killpg(rp.pid, signal.SIGTSTP)  # Ctrl-Z: the terminal signals run's group
    wait_for(lambda: states() == ("T", "T"), 15, "run and its child stopped")
    os.killpg(rp.pid, signal.SIGCONT)  # fg / bg: the shell continues run's group
    wait_for(lambda: "T" not in states(), 15, "run and its child running again")
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0
