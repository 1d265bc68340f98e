"""`config-reloader watch` (the real CLI, a subprocess) against a real Prometheus.

The config is rendered from a ``$(VAR)`` template (init mode first, like prometheus-operator's init
container), rule files come from a ``rule_files`` glob over watched dirs, and every kind of writer
is used: atomic rename, in-place truncate+write, kubelet's AtomicWriter. What Prometheus loaded is
checked through its API (/api/v1/rules, /api/v1/status/config, /api/v1/status/runtimeinfo).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import childproc
import pytest
from prometheus import PrometheusProcess, wait_for

from config_reloader.testing import KubeletAtomicWriter, atomic_replace, write_in_place

pytestmark = pytest.mark.e2e

TEMPLATE = """\
global:
  scrape_interval: 1m
  external_labels:
    cluster: $(CLUSTER)
    replica: r$(STATEFULSET_ORDINAL_NUMBER)
    note: {note}
rule_files:
  - {rules}/*.yml
  - {cm}/*.yml
"""


def rule_file(group: str, record: str) -> bytes:
    return (
        f"groups:\n  - name: {group}\n    rules:\n      - record: {record}\n        expr: vector(1)\n"
    ).encode()


class Watcher:
    """`python -m config_reloader watch ...` with its log in a file; stopped by SIGTERM."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = childproc.popen(
                [sys.executable, "-m", "config_reloader", "watch", *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
def watchers() -> Iterator[Callable[..., Watcher]]:
    started: list[Watcher] = []

    def start(argv: list[str], log_path: Path, **env: str) -> Watcher:
        w = Watcher(argv, log_path, {**os.environ, **env})
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def config_time(p: PrometheusProcess) -> str:
    """``lastConfigTime`` now, after waiting until the wall clock has left that second: Prometheus
    2.42 reports it in whole seconds, so only a reload in a later second can show it "moved"."""
    text = str(p.runtimeinfo()["lastConfigTime"])
    at = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    wait_for(lambda: time.time() >= int(at) + 1, 3, what="the next wall-clock second")
    return text


def reloaded_since(p: PrometheusProcess, before: str) -> Callable[[], bool]:
    def check() -> bool:
        info = p.runtimeinfo()
        return bool(info["reloadConfigSuccess"]) and str(info["lastConfigTime"]) != before

    return check


def setup_files(tmp_path: Path, note: str = "one") -> dict[str, Path]:
    rules, cm, out = tmp_path / "rules", tmp_path / "rules-cm", tmp_path / "out"
    for d in (rules, cm, out):
        d.mkdir()
    tmpl = tmp_path / "prometheus.yml.tmpl"
    atomic_replace(tmpl, TEMPLATE.format(note=note, rules=rules, cm=cm).encode())
    atomic_replace(rules / "a.yml", rule_file("a", "rec_a1"))
    return {"tmpl": tmpl, "rules": rules, "cm": cm, "out": out / "prometheus.yml"}


def init_render(files: dict[str, Path], **env: str) -> None:
    res = childproc.run(
        [
            sys.executable,
            "-m",
            "config_reloader",
            "watch",
            f"--config-file={files['tmpl']}",
            f"--config-envsubst-file={files['out']}",
            "--watch-interval=0",
        ],
        capture_output=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert res.returncode == 0, res.stderr.decode()


def test_watch_http_reloads_real_prometheus(
    tmp_path: Path, prometheus_factory: Callable[..., PrometheusProcess], watchers: Callable[..., Watcher]
) -> None:
    env = {"CLUSTER": "eu1", "POD_NAME": "prometheus-main-1"}
    f = setup_files(tmp_path)
    init_render(f, **env)
    assert b"cluster: eu1" in f["out"].read_bytes() and b"replica: r1" in f["out"].read_bytes()
    prom = prometheus_factory(str(f["out"]))
    assert prom.rule_names() == {"rec_a1"}
    kubelet = KubeletAtomicWriter(f["cm"])
    w = watchers(
        [
            f"--config-file={f['tmpl']}",
            f"--config-envsubst-file={f['out']}",
            f"--watched-dir={f['rules']}",
            f"--watched-dir={f['cm']}",
            f"--reload-url={prom.reload_url}",
            "--delay-interval=100ms",
            "--retry-interval=200ms",
            "--log-level=debug",
        ],
        tmp_path / "watch.log",
        **env,
    )
    wait_for(lambda: "reload triggered" in w.log(), 30, what="initial reload")

    # 1. atomic rename of a rule file
    before = config_time(prom)
    atomic_replace(f["rules"] / "a.yml", rule_file("a", "rec_a2"))
    wait_for(lambda: prom.rule_names() == {"rec_a2"}, 30, what="rec_a2 loaded")
    wait_for(reloaded_since(prom, before), 10, what="lastConfigTime moved")

    # 2. in-place truncate + write in chunks (a non-atomic writer)
    write_in_place(f["rules"] / "a.yml", rule_file("a", "rec_a3"), chunks=3, pause=0.05)
    wait_for(lambda: prom.rule_names() == {"rec_a3"}, 30, what="rec_a3 loaded")
    assert prom.runtimeinfo()["reloadConfigSuccess"] is True

    # 3. kubelet-style ConfigMap update in the second watched dir (new key, then changed key)
    kubelet.write({"cm.yml": rule_file("cm", "rec_cm1")})
    wait_for(lambda: prom.rule_names() == {"rec_a3", "rec_cm1"}, 30, what="rec_cm1 loaded")
    kubelet.write({"cm.yml": rule_file("cm", "rec_cm2")})
    wait_for(lambda: prom.rule_names() == {"rec_a3", "rec_cm2"}, 30, what="rec_cm2 loaded")

    # 4. the config template itself (rendered again with the env)
    before = config_time(prom)
    atomic_replace(f["tmpl"], TEMPLATE.format(note="two", rules=f["rules"], cm=f["cm"]).encode())
    wait_for(lambda: "note: two" in prom.loaded_config(), 30, what="new config loaded")
    wait_for(reloaded_since(prom, before), 10, what="lastConfigTime moved")
    assert "cluster: eu1" in prom.loaded_config()

    assert prom.proc.poll() is None
    assert w.stop() == 0
    assert "reload failed" not in w.log()


def test_watch_signal_mode_holds_sighup_until_prometheus_is_ready(
    tmp_path: Path, prometheus_factory: Callable[..., PrometheusProcess], watchers: Callable[..., Watcher]
) -> None:
    """SIGHUP before Prometheus installed its handler kills it. Start the reloader
    first, then Prometheus; the initial reload must wait for runtime info, then be verified."""
    env = {"CLUSTER": "eu2"}
    f = setup_files(tmp_path)
    init_render(f, **env)
    pid_file = tmp_path / "prometheus.pid"
    # The pid file is what targets *this* Prometheus: --process-executable-name=prometheus would
    # pick the first process named prometheus on the machine (other tests may run their own).
    prom = prometheus_factory(str(f["out"]), lifecycle=False, wait=False)
    atomic_replace(pid_file, f"{prom.pid}\n".encode())
    w = watchers(
        [
            f"--config-file={f['tmpl']}",
            f"--config-envsubst-file={f['out']}",
            f"--watched-dir={f['rules']}",
            "--reload-method=signal",
            f"--pid-file={pid_file}",
            f"--runtimeinfo-url={prom.runtimeinfo_url}",
            "--delay-interval=100ms",
            "--retry-interval=100ms",
            "--reload-timeout=20s",
        ],
        tmp_path / "watch.log",
        **env,
    )
    prom.wait_ready(60)
    wait_for(lambda: "reload triggered" in w.log(), 60, what="initial signal reload verified")
    assert prom.proc.poll() is None, "Prometheus died: SIGHUP arrived before it was ready"

    before = config_time(prom)
    atomic_replace(f["rules"] / "a.yml", rule_file("a", "rec_sig"))
    wait_for(lambda: prom.rule_names() == {"rec_sig"}, 30, what="rec_sig loaded by SIGHUP")
    wait_for(reloaded_since(prom, before), 10, what="lastConfigTime moved")
    assert prom.proc.poll() is None
    assert w.stop() == 0
