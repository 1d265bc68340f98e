"""The image in prometheus-operator's reloader slot: a pod laid out as the operator lays it out.

What the operator generates for a Prometheus pod (prometheus-operator's config_reloader.go): the
reloader image runs as ``/bin/prometheus-config-reloader`` with bare flags, twice: an init
container with ``--watch-interval=0`` that renders the gzipped config Secret before Prometheus may
start, and the sidecar. Both get requests = limits = 10m CPU and 50Mi memory, a read-only root,
no capabilities, no privilege escalation, uid 1000 / gid 2000, ``POD_NAME`` and ``SHARD`` in the
environment. The config Secret arrives as ``prometheus.yaml.gz``, the output goes to the
``config_out`` emptyDir shared with Prometheus, and each rule ConfigMap is its own directory,
written by the kubelet's AtomicWriter (simulated here by ``KubeletAtomicWriter``).

Checked: the init container exits 0 with the rendered config; Prometheus starts with it; a rule
ConfigMap update is served by Prometheus' API; the status endpoints answer; no container is
OOM-killed.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from podman_helpers import BuiltImages, Podman, wait_for

from config_reloader.testing import KubeletAtomicWriter

SLOT = ["--cpus", "0.01", "--memory", "50m", "--user", "1000:2000"]
CONFIG = "/etc/prometheus/config"
OUT = "/etc/prometheus/config_out"
RULES = "/etc/prometheus/rules"
PROM = "http://127.0.0.1:9090"
# The sidecar starts at 1% of a CPU: tens of seconds on a loaded 2-core machine.
DEADLINE = 150.0


def prometheus_yaml() -> bytes:
    return (
        "global:\n"
        "  scrape_interval: 1h\n"
        "  evaluation_interval: 1s\n"
        "  external_labels:\n"
        "    prometheus_replica: $(POD_NAME)\n"
        "    shard: $(SHARD)\n"
        "rule_files:\n"
        f"  - {RULES}/prometheus-k8s-rulefiles-0/*.yaml\n"
        f"  - {RULES}/prometheus-k8s-rulefiles-1/*.yaml\n"
    ).encode()


def rules(name: str, version: int) -> bytes:
    return (
        f"groups:\n  - name: {name}\n    rules:\n"
        f"      - record: slot_{name}_v{version}\n        expr: vector({version})\n"
    ).encode()


def slot_container(
    podman: Podman, image: str, pod: str, mounts: list[str], args: list[str], what: str
) -> str:
    """Start a container with the operator's reloader spec (Podman.run_args adds the read-only
    root, no-new-privileges and the capability drop)."""
    name = podman.name(what)
    env = {"POD_NAME": "prometheus-k8s-0", "SHARD": "0"}
    podman("run", "-d", *podman.run_args(name, pod, mounts, env), *SLOT,
           "--entrypoint", "/bin/prometheus-config-reloader", image, *args)  # fmt: skip
    podman.created_containers.append(name)
    return name


def test_operator_pod_init_then_sidecar_under_10m_50mi(
    podman: Podman, images: BuiltImages, tmp_path: Path
) -> None:
    secret = KubeletAtomicWriter(tmp_path / "config")
    secret.write({"prometheus.yaml.gz": gzip.compress(prometheus_yaml(), mtime=0)})
    rule_dirs = [KubeletAtomicWriter(tmp_path / f"prometheus-k8s-rulefiles-{i}") for i in range(2)]
    rule_dirs[0].write({"default-a.yaml": rules("a", 1)})
    rule_dirs[1].write({"default-b.yaml": rules("b", 1)})
    out, data = tmp_path / "config_out", tmp_path / "data"
    for d in (out, data):  # emptyDirs with fsGroup 2000: writable by the pod's uid
        d.mkdir()
        os.chown(d, 1000, 2000)
    mounts = [f"{secret.target_dir}:{CONFIG}:ro", f"{out}:{OUT}"] + [
        f"{w.target_dir}:{RULES}/prometheus-k8s-rulefiles-{i}:ro" for i, w in enumerate(rule_dirs)
    ]
    flags = [
        f"--reload-url={PROM}/-/reload",
        f"--config-file={CONFIG}/prometheus.yaml.gz",
        f"--config-envsubst-file={OUT}/prometheus.env.yaml",
        *(f"--watched-dir={RULES}/prometheus-k8s-rulefiles-{i}" for i in range(2)),
    ]
    pod = podman.pod()

    init = slot_container(podman, images.image, pod, mounts, ["--watch-interval=0", *flags], "init")
    status = podman("wait", init, timeout=DEADLINE).stdout.strip()
    assert status == "0", podman.logs(init)
    rendered = (out / "prometheus.env.yaml").read_text()
    assert "prometheus_replica: prometheus-k8s-0" in rendered and "shard: 0" in rendered, rendered

    prom = podman.name("prom")  # Prometheus runs as the pod's uid too (no quota: not ours to fit)
    podman(
        "run", "-d", *podman.run_args(prom, pod, [f"{out}:{OUT}:ro", *mounts[2:], f"{data}:/prometheus"], {}),
        "--user", "1000:2000", images.prometheus,
        f"--config.file={OUT}/prometheus.env.yaml", "--storage.tsdb.path=/prometheus",
        "--web.listen-address=127.0.0.1:9090", "--web.enable-lifecycle",
    )  # fmt: skip
    podman.created_containers.append(prom)
    sidecar = slot_container(
        podman, images.image, pod, mounts, ["--listen-address=:8080", "--log-level=debug", *flags], "reloader"
    )
    every = [init, prom, sidecar]

    def rule_names() -> set[str]:
        doc = podman.http_json(prom, f"{PROM}/api/v1/rules")  # exec'd in prom: no quota there
        if not isinstance(doc, dict):
            return set()
        return {r["name"] for g in doc["data"]["groups"] for r in g["rules"]}

    def expect(pred: object, what: str) -> None:
        try:
            wait_for(pred, DEADLINE, what)  # type: ignore[arg-type]
        except BaseException:
            for c in every:
                print(f"--- logs of {c} ---\n{podman.logs(c)[-3000:]}")
            raise

    expect(
        lambda: {"slot_a_v1", "slot_b_v1"} <= rule_names(), "Prometheus serving the rendered config's rules"
    )
    config = podman.http_json(prom, f"{PROM}/api/v1/status/config")
    assert isinstance(config, dict) and "prometheus_replica: prometheus-k8s-0" in config["data"]["yaml"]
    expect(lambda: "reload triggered" in podman.logs(sidecar) or "reloaded" in podman.logs(sidecar),
           "the sidecar's first reload")  # fmt: skip

    rule_dirs[1].write({"default-b.yaml": rules("b", 2)})
    expect(lambda: "slot_b_v2" in rule_names() and "slot_b_v1" not in rule_names(), "the updated rule served")

    for path, body in (("/healthz", '"status":"up"'), ("/metrics", "reloader_last_reload_successful 1.0")):
        status, text = podman.http_get(prom, f"http://127.0.0.1:8080{path}")
        assert status == 200 and body in text, (path, status, text[:500])

    for c in (init, sidecar):
        state = podman("inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", c).stdout.split()
        assert state[0] == "false", f"{c} was OOM-killed"
    assert podman("inspect", "--format", "{{.State.Running}}", sidecar).stdout.strip() == "true"
