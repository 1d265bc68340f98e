"""Restart policies and the cap on restarts per minute (real processes)."""

from __future__ import annotations

import re


def _starts(log: str) -> int:
    return len(re.findall(r'msg="child started"', log))


def test_no_restart_by_default(run_cli):
    rp = run_cli(service=["--exit-after-ms", "50", "--exit-code", "5"])
    assert rp.wait_exit() == 5
    assert _starts(rp.log()) == 1


def test_on_failure_restarts_until_cap_then_gives_up_with_last_status(run_cli):
    rp = run_cli(
        "--restart",
        "on-failure",
        "--restart-delay",
        "0",
        "--max-restarts-per-minute",
        "2",
        service=["--exit-after-ms", "50", "--exit-code", "5"],
    )
    assert rp.wait_exit(30) == 5
    log = rp.log()
    assert _starts(log) == 3  # the first start + 2 restarts
    assert "child restarting too often: giving up" in log
    assert "max_restarts_per_minute=2" in log


def test_on_failure_does_not_restart_a_clean_exit(run_cli):
    rp = run_cli("--restart", "on-failure", "--restart-delay", "0", service=["--exit-after-ms", "50"])
    assert rp.wait_exit() == 0
    assert _starts(rp.log()) == 1


def test_always_restarts_a_clean_exit(run_cli):
    rp = run_cli(
        "--restart",
        "always",
        "--restart-delay",
        "100ms",
        "--max-restarts-per-minute",
        "1",
        service=["--exit-after-ms", "50"],
    )
    assert rp.wait_exit(30) == 0
    assert _starts(rp.log()) == 2


def test_restart_delay_is_interrupted_by_sigterm(run_cli):
    import signal

    rp = run_cli(
        "--restart", "always", "--restart-delay", "1h", service=["--exit-after-ms", "50", "--exit-code", "4"]
    )
    rp.wait_log("child exited: restarting")
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 4
    assert _starts(rp.log()) == 1
