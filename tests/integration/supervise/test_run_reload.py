"""Config change -> the child reloads the new content (signal and restart methods), render before
start, a change that arrives before readiness applied right after it."""

from __future__ import annotations

import signal
import socket

from supervise_helpers import atomic_write_text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_config_change_reloads_child_by_signal(run_cli, tmp_path):
    cfg = tmp_path / "app.conf"
    atomic_write_text(cfg, "v1")
    rp = run_cli("--config-file", str(cfg), "--delay-interval", "0", service=["--config", str(cfg)])
    st = rp.wait_state(lambda s: s["ready"], what="service ready")
    assert st["history"] == ["v1"]
    rp.wait_log("started watching")
    atomic_write_text(cfg, "v2")
    st = rp.wait_state(lambda s: s["config"] == "v2", what="v2 loaded")
    atomic_write_text(cfg, "v3")
    st = rp.wait_state(lambda s: s["config"] == "v3", what="v3 loaded")
    # no reload right after start (the started content counts as applied), one per change
    assert st["history"] == ["v1", "v2", "v3"]
    assert st["signals"] == ["SIGHUP", "SIGHUP"]
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0


def test_rendered_before_start_and_reloaded(run_cli, tmp_path, monkeypatch):
    src = tmp_path / "app.conf.in"
    out = tmp_path / "out" / "app.conf"
    out.parent.mkdir()
    atomic_write_text(src, "name=$(APP_NAME) v1")
    monkeypatch.setenv("APP_NAME", "demo")
    rp = run_cli(
        "--config-file",
        str(src),
        "--config-envsubst-file",
        str(out),
        "--delay-interval",
        "0",
        service=["--config", str(out)],
    )
    st = rp.wait_state(lambda s: s["ready"], what="service ready")
    assert st["history"] == ["name=demo v1"]  # the child never saw a missing output
    rp.wait_log("started watching")
    atomic_write_text(src, "name=$(APP_NAME) v2")
    st = rp.wait_state(lambda s: s["config"] == "name=demo v2", what="v2 rendered and loaded")
    assert st["history"] == ["name=demo v1", "name=demo v2"]
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0


def test_render_failure_before_start_exits_1_without_starting(run_cli, tmp_path):
    src = tmp_path / "app.conf.in"
    atomic_write_text(src, "name=$(SURELY_UNSET_VARIABLE_XYZ)")
    rp = run_cli(
        "--config-file",
        str(src),
        "--config-envsubst-file",
        str(tmp_path / "app.conf"),
        "--strict-env",
        service=["--config", str(tmp_path / "app.conf")],
    )
    assert rp.wait_exit() == 1
    assert not rp.state.exists()
    assert "not starting the child" in rp.log()


def test_change_before_ready_is_applied_right_after_readiness(run_cli, tmp_path):
    cfg = tmp_path / "app.conf"
    atomic_write_text(cfg, "v1")
    port = _free_port()
    rp = run_cli(
        "--config-file",
        str(cfg),
        "--delay-interval",
        "0",
        "--retry-interval",
        "1m",  # a failed early attempt would wait this long: the test would time out
        "--ready-url",
        f"http://127.0.0.1:{port}/ready",
        service=["--config", str(cfg), "--ready-after-ms", "2000", "--ready-port", str(port)],
    )
    st = rp.wait_state(lambda s: True, what="service started")
    assert st["ready"] is False
    rp.wait_log("started watching")
    atomic_write_text(cfg, "v2")
    st = rp.wait_state(lambda s: s["config"] == "v2", timeout=20, what="v2 loaded after readiness")
    assert st["history"] == ["v1", "v2"]
    assert rp.proc.poll() is None
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0


def test_restart_reload_method(run_cli, tmp_path):
    cfg = tmp_path / "app.conf"
    atomic_write_text(cfg, "v1")
    rp = run_cli(
        "--config-file",
        str(cfg),
        "--delay-interval",
        "0",
        "--reload-method",
        "restart",
        "--stop-timeout",
        "5s",
        service=["--config", str(cfg)],
    )
    st1 = rp.wait_state(lambda s: s["ready"], what="service ready")
    rp.wait_log("started watching")
    atomic_write_text(cfg, "v2")
    st2 = rp.wait_state(lambda s: s["config"] == "v2", what="restarted with v2")
    assert st2["pid"] != st1["pid"]
    assert st2["history"] == ["v2"]  # a fresh process, no signal reload
    assert "restarting child for reload" in rp.log()
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0
