"""/metrics, /healthz and /ready of ``run``: reloader metrics plus the child's state and pin set."""

from __future__ import annotations

import re
import signal
import urllib.error
import urllib.request

from supervise_helpers import atomic_write_text, wait_for


def _port(log: str) -> int:
    m = re.search(r'msg="serving metrics".* port=(\d+)', log)
    assert m, log
    return int(m.group(1))


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _sample(body: str, name: str) -> float | None:
    m = re.search(rf"^{re.escape(name)} ([-0-9.e+]+)$", body, re.M)
    return float(m.group(1)) if m else None


def test_metrics_show_child_state_pin_set_and_reloads(run_cli, tmp_path):
    cfg = tmp_path / "app.conf"
    atomic_write_text(cfg, "v1")
    rp = run_cli(
        "--listen-address",
        "127.0.0.1:0",
        "--pin-cpus",
        "--config-file",
        str(cfg),
        "--delay-interval",
        "0",
        "--ready-delay",
        "300ms",
        prefix=["taskset", "-c", "0"],
        service=["--config", str(cfg)],
    )
    rp.wait_log('msg="serving metrics"')
    port = _port(rp.log())
    assert _get(port, "/healthz")[0] == 200
    wait_for(lambda: _get(port, "/ready")[0] == 200, 15, "/ready 200 once the child is ready")
    body = _get(port, "/metrics")[1]
    assert _sample(body, "reloader_child_running") == 1
    assert _sample(body, "reloader_child_ready") == 1
    assert _sample(body, 'reloader_pin_cpus{cpulist="0"}') == 1
    assert _sample(body, 'reloader_info{method="signal"}') == 1
    assert _sample(body, "reloader_child_restarts_total") == 0
    rp.wait_log("started watching")
    atomic_write_text(cfg, "v2")
    rp.wait_state(lambda s: s["config"] == "v2", what="v2 loaded")
    wait_for(
        lambda: _sample(_get(port, "/metrics")[1], "reloader_reloads_total") == 1, 15, "one reload counted"
    )
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0


def test_restart_and_exit_status_metrics(run_cli):
    rp = run_cli(
        "--listen-address",
        "127.0.0.1:0",
        "--restart",
        "on-failure",
        "--restart-delay",
        "1h",  # stays in the restart delay so the metrics can be read
        service=["--exit-after-ms", "100", "--exit-code", "3"],
    )
    rp.wait_log("child exited: restarting")
    port = _port(rp.log())
    body = _get(port, "/metrics")[1]
    assert _sample(body, "reloader_child_running") == 0
    assert _sample(body, "reloader_child_last_exit_status") == 3
    assert _get(port, "/ready")[0] == 503
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 3
