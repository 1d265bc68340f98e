"""Never signal the child before it is ready; a SIGHUP sent to run early is held back."""

from __future__ import annotations

import signal
import socket


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sighup_before_ready_url_is_held_back_and_delivered(run_cli):
    port = _free_port()
    rp = run_cli(
        "--ready-url",
        f"http://127.0.0.1:{port}/ready",
        service=["--ready-after-ms", "1500", "--ready-port", str(port)],
    )
    st = rp.wait_state(lambda s: True, what="service started")
    assert st["ready"] is False  # the SIGHUP handler is not installed yet: SIGHUP would kill it
    rp.send(signal.SIGHUP)
    rp.wait_log("holding back signal until the child is ready")
    st = rp.wait_state(lambda s: "SIGHUP" in s["signals"], what="held SIGHUP delivered")
    assert st["ready"] is True
    assert st["loads"] == 2  # it reloaded on the SIGHUP, it did not die of it
    assert rp.proc.poll() is None
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0


def test_sighup_before_ready_delay_is_held_back(run_cli):
    rp = run_cli("--ready-delay", "1s", service=["--ready-after-ms", "300"])
    st = rp.wait_state(lambda s: True, what="service started")
    rp.send(signal.SIGHUP)
    st = rp.wait_state(lambda s: "SIGHUP" in s["signals"], what="held SIGHUP delivered")
    assert st["loads"] == 2
    assert rp.proc.poll() is None
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0


def test_without_readiness_gate_an_early_sighup_kills_the_service(run_cli):
    """The hazard the gate prevents (sanity check of the test service, prometheus/prometheus#14917)."""
    rp = run_cli(service=["--ready-after-ms", "3000"])
    rp.wait_state(lambda s: True, what="service started")
    rp.send(signal.SIGHUP)
    assert rp.wait_exit() == 128 + signal.SIGHUP
