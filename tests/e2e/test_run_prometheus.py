"""``config-reloader run`` with a real Prometheus as its child (signal reloads, verified through
runtime info), the way docs/run.md tells users to run it as a container entrypoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import childproc
import pytest
from prometheus import PROMETHEUS_BIN, PrometheusProcess, free_port, prometheus_available, wait_for

from config_reloader.testing import atomic_replace, kill_run

pytestmark = pytest.mark.skipif(not prometheus_available(), reason="prometheus not installed")

CONFIG = """\
global:
  scrape_interval: 1m
  external_labels:
    replica: $(REPLICA)
rule_files:
  - {rules}/*.yml
scrape_configs: []
"""


def _rules(*names: str) -> bytes:
    lines = ["groups:", "  - name: g", "    rules:"]
    for n in names:
        lines += [f"      - record: {n}", "        expr: vector(1)"]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def prom_run(tmp_path: Path):
    """Start ``run -- prometheus`` as docs/run.md shows; yield (PrometheusProcess view, paths)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str, prom_extra: tuple[str, ...] = ()) -> tuple[PrometheusProcess, dict[str, Path]]:
        cfg_dir, rules, out = tmp_path / "config", tmp_path / "rules", tmp_path / "config_out"
        for d in (cfg_dir, rules, out):
            d.mkdir(exist_ok=True)
        atomic_replace(cfg_dir / "prometheus.yml", CONFIG.format(rules=rules).encode())
        atomic_replace(rules / "a.yml", _rules("rule_a"))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = tmp_path / "run.log"
        argv = [
            sys.executable, "-m", "config_reloader", "run",
            "--config-file", str(cfg_dir / "prometheus.yml"),
            "--config-envsubst-file", str(out / "prometheus.env.yml"),
            "--watched-dir", str(rules),
            "--delay-interval", "0",
            "--reload-method", "signal",
            "--ready-url", f"{url}/-/ready",
            "--runtimeinfo-url", f"{url}/api/v1/status/runtimeinfo",
            "--stop-timeout", "20s",
            *(e.format(url=url) for e in extra),
            "--",
            PROMETHEUS_BIN,
            f"--config.file={out / 'prometheus.env.yml'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            *prom_extra,
        ]  # fmt: skip
        env = dict(os.environ, REPLICA="r1")
        with open(log_path, "wb") as log:
            proc = childproc.popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        procs.append(proc)
        p = PrometheusProcess(
            proc, port, str(out / "prometheus.env.yml"), str(tmp_path / "tsdb"), str(log_path)
        )
        p.wait_ready(60)
        return p, {"config": cfg_dir / "prometheus.yml", "rules": rules, "log": log_path}

    yield start
    for proc in procs:
        if proc.poll() is None:
            kill_run(proc.pid)  # run's child (Prometheus) has a session of its own
            proc.wait(10)


def test_run_prometheus_signal_reload_verified(prom_run):
    p, paths = prom_run()
    assert p.rule_names() == {"rule_a"}
    assert "replica: r1" in p.loaded_config()  # rendered before the first start
    before = p.runtimeinfo()
    assert before["reloadConfigSuccess"] is True

    atomic_replace(paths["rules"] / "b.yml", _rules("rule_b"))
    wait_for(lambda: p.rule_names() == {"rule_a", "rule_b"}, 30, what="rule_b loaded")
    # the load time is set at the end of Prometheus' reload, just after the rules are swapped in
    wait_for(
        lambda: (
            (i := p.runtimeinfo())["reloadConfigSuccess"] and i["lastConfigTime"] > before["lastConfigTime"]
        ),
        30,
        what="runtime info shows a newer successful load",
    )

    atomic_replace(paths["config"], CONFIG.replace("1m", "2m").format(rules=paths["rules"]).encode())
    wait_for(lambda: "scrape_interval: 2m" in p.loaded_config(), 30, what="new config loaded")
    wait_for(lambda: "reload triggered" in paths["log"].read_text(), 30, what="reload logged as verified")

    p.proc.send_signal(signal.SIGTERM)  # forwarded; Prometheus shuts down cleanly
    assert p.proc.wait(30) == 0


def test_run_prometheus_sighup_to_run_reaches_prometheus(prom_run):
    """A user's SIGHUP to run is forwarded (held until ready, which it already is here)."""
    p, paths = prom_run()
    done = "Completed loading of configuration file"  # Prometheus logs this on every (re)load

    def loads() -> int:
        return paths["log"].read_text(errors="replace").count(done)

    n = wait_for(loads, 30, what="initial load logged")
    p.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: loads() > n, 30, what="reload by forwarded SIGHUP")
    assert p.runtimeinfo()["reloadConfigSuccess"] is True
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(30) == 0


def test_run_prometheus_http_reload_method(prom_run):
    p, paths = prom_run(
        "--reload-method", "http", "--reload-url", "{url}/-/reload", prom_extra=("--web.enable-lifecycle",)
    )  # fmt: skip
    atomic_replace(paths["rules"] / "c.yml", _rules("rule_c"))
    wait_for(lambda: p.rule_names() == {"rule_a", "rule_c"}, 30, what="rule_c loaded via POST /-/reload")
    # The log line follows the POST's answer: Prometheus may show the rule first.
    wait_for(
        lambda: any(
            "reload triggered" in ln and "method=http" in ln for ln in paths["log"].read_text().splitlines()
        ),
        30,
        what="reload logged",
    )
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(30) == 0


def _docs_example() -> tuple[dict[str, str], list[str]]:
    """The files and the `run` arguments of the container example in docs/run.md."""
    import re
    import shlex

    text = (Path(__file__).resolve().parents[2] / "docs" / "run.md").read_text()
    section = text.split("## Run as a container entrypoint", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    files = dict(re.findall(r"cat > (\S+) <<'EOF'\n(.*?)\nEOF\n", block, re.S))
    cmd = block[block.index("podman run") :].replace("\\\n", " ")
    words = shlex.split(cmd)
    args = words[words.index("localhost/config-reloader-run:latest") + 1 :]
    return files, args


def test_docs_container_example_command_works(tmp_path):
    """docs/run.md's container example, run on the host with container paths mapped to temp dirs."""
    files, args = _docs_example()
    port, mport = free_port(), free_port()
    mapping = [  # container path -> host path; longest first
        ("/etc/prometheus/config_out", str(tmp_path / "prom/out")),
        ("/etc/prometheus/config", str(tmp_path / "prom/config")),
        ("/etc/prometheus/rules", str(tmp_path / "prom/rules")),
        ("=/prometheus", f"={tmp_path / 'prom/data'}"),
        ("127.0.0.1:9090", f"127.0.0.1:{port}"),
        ("=:9090", f"=127.0.0.1:{port}"),
        (":8080", f"127.0.0.1:{mport}"),
    ]

    def host(s: str) -> str:
        for a, b in mapping:
            s = s.replace(a, b)
        return s

    for d in ("config", "rules", "out", "data"):
        (tmp_path / "prom" / d).mkdir(parents=True)
    for rel, content in files.items():
        atomic_replace(tmp_path / rel, host(content + "\n").encode())
    argv = [sys.executable, "-m", "config_reloader", "run", *(host(a) for a in args)]
    assert "--" in argv and host("/usr/bin/prometheus") in argv
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = childproc.popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, POD_NAME="prom-0"),
            start_new_session=True,
        )  # fmt: skip
    try:
        p = PrometheusProcess(proc, port, "", "", str(log_path))
        p.wait_ready(60)
        assert p.rule_names() == {"job:up:sum"}
        assert "replica: prom-0" in p.loaded_config()
        atomic_replace(
            tmp_path / "prom/rules/more.yml",
            b"groups:\n  - name: more\n    rules:\n      - record: x:one\n        expr: vector(1)\n",
        )
        wait_for(lambda: "x:one" in p.rule_names(), 30, what="rule added through the watched dir")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            kill_run(proc.pid)  # run's child (Prometheus) has a session of its own
            proc.wait(10)
