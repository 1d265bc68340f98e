"""Signal forwarding, exit-status propagation and the stop ladder, with real processes."""

from __future__ import annotations

import signal
import sys

import pytest
from supervise_helpers import wait_for


def test_exit_status_of_child_is_propagated(run_cli):
    rp = run_cli(command=[sys.executable, "-c", "import sys; sys.exit(7)"])
    assert rp.wait_exit() == 7


def test_death_by_signal_exits_128_plus_n(run_cli):
    rp = run_cli(service=["--die-on-usr2"])
    rp.wait_state(lambda s: s["ready"], what="service ready")
    rp.send(signal.SIGUSR2)
    assert rp.wait_exit() == 128 + signal.SIGUSR2
    assert "SIGUSR2" in rp.read_state()["signals"]


def test_command_not_found_exits_127(run_cli):
    rp = run_cli(command=["/nonexistent/definitely-not-here"])
    assert rp.wait_exit() == 127
    assert "command not found" in rp.log()


@pytest.mark.parametrize(
    "sig", [signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT]
)
def test_signals_are_forwarded(run_cli, sig):
    rp = run_cli(service=["--term-exit-code", "0"])
    rp.wait_state(lambda s: s["ready"], what="service ready")
    rp.send(sig)
    rp.wait_state(lambda s: signal.Signals(sig).name in s["signals"], what=f"{sig.name} recorded")
    if sig == signal.SIGINT:  # the service exits 0 on SIGINT; run exits with it
        assert rp.wait_exit() == 0
    else:
        assert rp.proc.poll() is None
        rp.send(signal.SIGTERM)
        assert rp.wait_exit() == 0


def test_sigterm_is_forwarded_and_its_exit_code_returned(run_cli):
    rp = run_cli(service=["--term-exit-code", "42"])
    rp.wait_state(lambda s: s["ready"], what="service ready")
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 42
    assert rp.read_state()["signals"] == ["SIGTERM"]


def test_child_ignoring_sigterm_is_killed_after_stop_timeout(run_cli):
    rp = run_cli("--stop-timeout", "500ms", service=["--ignore-term"])
    rp.wait_state(lambda s: s["ready"], what="service ready")
    rp.send(signal.SIGTERM)
    rp.wait_state(lambda s: "SIGTERM" in s["signals"], what="SIGTERM recorded")
    assert rp.wait_exit() == 128 + signal.SIGKILL
    assert "sending SIGKILL" in rp.log()


def test_shutdown_signal_prevents_restart(run_cli):
    rp = run_cli("--restart", "always", "--restart-delay", "0", service=["--term-exit-code", "3"])
    rp.wait_state(lambda s: s["ready"], what="service ready")
    pid = rp.read_state()["pid"]
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 3
    assert rp.read_state()["pid"] == pid  # no second child was started
    assert "restarting" not in rp.log()


def test_child_runs_in_subreaper(run_cli, tmp_path):
    """run is the child's parent and marks itself subreaper (grandchildren re-parent to it)."""
    orphan = tmp_path / "orphan.json"
    rp = run_cli(service=["--spawn-orphan", str(orphan), "--orphan-sleep-ms", "100"])
    st = rp.wait_state(lambda s: s["ready"], what="service ready")
    assert st["ppid"] == rp.pid
    info = wait_for(
        lambda: orphan.exists() and __import__("json").loads(orphan.read_text()), 10, "orphan file"
    )
    assert info["ppid"] == rp.pid  # re-parented to run, not to the host's init
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0
