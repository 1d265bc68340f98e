"""`config-reloader watch` against Prometheus (and Alertmanager) served with ``--web.config.file``:
TLS with a self-signed certificate (openssl CLI) and bcrypt basic auth. The password comes from a
file; it is rotated in the server's web config and in the file, and the next change still reloads.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import childproc
import pytest
from alertmanager import alertmanager_available, start_alertmanager
from prometheus import PrometheusProcess, WebConfig, make_web_config, wait_for

from config_reloader.testing import atomic_replace

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI"),
]

PROM_CONFIG = "global:\n  scrape_interval: 1m\nrule_files:\n  - {rules}/*.yml\n"


def rule(record: str) -> bytes:
    text = f"groups:\n  - name: g_{record}\n    rules:\n      - record: {record}\n        expr: vector(1)\n"
    return text.encode()


class Watcher:
    """`python -m config_reloader watch ...` with its output in a file; stopped by SIGTERM."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = childproc.popen(
                [sys.executable, "-m", "config_reloader", "watch", *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[Callable[..., Watcher]]:
    started: list[Watcher] = []

    def start(*argv: str) -> Watcher:
        w = Watcher(list(argv), tmp_path / f"watch-{len(started)}.log")
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


@pytest.fixture
def secured(tmp_path: Path) -> tuple[WebConfig, Path]:
    """A web config (self-signed TLS, user ``reloader``) and the reloader's password file."""
    web = make_web_config(str(tmp_path), password="first-pass")
    pw = tmp_path / "password"
    atomic_replace(pw, b"first-pass\n")
    return web, pw


def rotate(web: WebConfig, pw: Path, password: str) -> None:
    """What a Secret rotation does: the server's web config and the reloader's file both change."""
    web.set_password(password)
    atomic_replace(pw, password.encode() + b"\n")


def test_https_basic_auth_reload_survives_password_rotation(
    tmp_path: Path,
    prometheus_factory: Callable[..., PrometheusProcess],
    watcher: Callable[..., Watcher],
    secured: tuple[WebConfig, Path],
) -> None:
    web, pw = secured
    rules = tmp_path / "rules"
    rules.mkdir()
    atomic_replace(rules / "a.yml", rule("rec_a"))
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, PROM_CONFIG.format(rules=rules).encode())
    p = prometheus_factory(str(cfg), web=web)
    assert p.url.startswith("https://") and p.rule_names() == {"rec_a"}
    w = watcher(
        f"--config-file={cfg}",
        f"--watched-dir={rules}",
        f"--reload-url={p.reload_url}",
        "--reload-basic-auth-username=reloader",
        f"--reload-basic-auth-password-file={pw}",
        "--delay-interval=0",
        "--retry-interval=200ms",
    )
    atomic_replace(rules / "b.yml", rule("rec_b"))
    wait_for(lambda: p.rule_names() == {"rec_a", "rec_b"}, 30, what="rec_b loaded through https + basic auth")

    rotate(web, pw, "second-pass")
    atomic_replace(rules / "c.yml", rule("rec_c"))
    wait_for(lambda: "rec_c" in p.rule_names(), 30, what="rec_c loaded with the rotated password")

    log = w.log()
    assert "certificate not verified" in log  # the loopback default, said once at start
    assert log.count("https target") == 1
    assert "first-pass" not in log and "second-pass" not in log
    assert w.stop() == 0


def test_signal_mode_verified_through_https_runtimeinfo_with_password_file(
    tmp_path: Path,
    prometheus_factory: Callable[..., PrometheusProcess],
    watcher: Callable[..., Watcher],
    secured: tuple[WebConfig, Path],
) -> None:
    web, pw = secured
    rules = tmp_path / "rules"
    rules.mkdir()
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, PROM_CONFIG.format(rules=rules).encode())
    p = prometheus_factory(str(cfg), web=web, lifecycle=False)
    pid_file = tmp_path / "prometheus.pid"
    pid_file.write_text(f"{p.pid}\n")  # never signal by name on a shared machine
    w = watcher(
        f"--config-file={cfg}",
        f"--watched-dir={rules}",
        "--reload-method=signal",
        f"--pid-file={pid_file}",
        f"--runtimeinfo-url={p.runtimeinfo_url}",
        f"--reload-tls-ca-file={web.cert}",  # the self-signed certificate is its own CA: verified
        "--reload-basic-auth-username=reloader",
        f"--reload-basic-auth-password-file={pw}",
        "--delay-interval=0",
        "--retry-interval=200ms",
        "--log-level=debug",
    )
    atomic_replace(rules / "a.yml", rule("rec_a"))
    wait_for(lambda: p.rule_names() == {"rec_a"}, 30, what="rec_a loaded by SIGHUP")
    wait_for(lambda: "reload confirmed by runtime info" in w.log(), 30, what="verified over https")

    rotate(web, pw, "second-pass")
    confirmed = w.log().count("reload confirmed by runtime info")
    atomic_replace(rules / "b.yml", rule("rec_b"))
    wait_for(lambda: p.rule_names() == {"rec_a", "rec_b"}, 30, what="rec_b loaded after rotation")
    wait_for(
        lambda: w.log().count("reload confirmed by runtime info") > confirmed,
        30,
        what="runtime info read with the rotated password",
    )
    log = w.log()
    assert "certificate verified against CA file" in log
    assert "first-pass" not in log and "second-pass" not in log
    assert w.stop() == 0


@pytest.mark.skipif(not alertmanager_available(), reason="needs prometheus-alertmanager (Debian package)")
def test_one_reloader_two_targets_prometheus_and_alertmanager(
    tmp_path: Path,
    prometheus_factory: Callable[..., PrometheusProcess],
    watcher: Callable[..., Watcher],
    secured: tuple[WebConfig, Path],
) -> None:
    web, pw = secured
    conf = tmp_path / "conf"
    conf.mkdir()
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, PROM_CONFIG.format(rules=conf).encode())
    am_cfg = conf / "alertmanager.conf"  # not *.yml: Prometheus' rule glob skips it
    atomic_replace(am_cfg, b"route:\n  receiver: team-a\nreceivers:\n  - name: team-a\n")
    p = prometheus_factory(str(cfg), web=web)
    am = start_alertmanager(str(am_cfg), str(tmp_path), web=web)
    try:
        w = watcher(
            f"--config-file={cfg}",
            f"--watched-dir={conf}",
            f"--reload-url={p.reload_url}",
            f"--reload-url={am.reload_url}",
            "--reload-basic-auth-username=reloader",
            f"--reload-basic-auth-password-file={pw}",
            "--delay-interval=0",
            "--retry-interval=200ms",
        )
        atomic_replace(am_cfg, b"route:\n  receiver: team-b\nreceivers:\n  - name: team-b\n")
        wait_for(lambda: "team-b" in am.loaded_config(), 30, what="Alertmanager reloaded")
        atomic_replace(conf / "a.yml", rule("rec_a"))
        wait_for(lambda: p.rule_names() == {"rec_a"}, 30, what="Prometheus reloaded")
        rotate(web, pw, "second-pass")
        atomic_replace(am_cfg, b"route:\n  receiver: team-c\nreceivers:\n  - name: team-c\n")
        wait_for(lambda: "team-c" in am.loaded_config(), 30, what="Alertmanager reloaded after rotation")
        assert w.stop() == 0
        assert os.path.exists(am_cfg)
    finally:
        am.stop()
