"""config-reloader and Prometheus in real podman containers, wired as a Kubernetes Pod's are.

Each test makes a pod (its own network namespace with loopback only, optionally a shared PID
namespace), bind-mounts host temp dirs as the ConfigMap volumes, the rendered-config emptyDir and
the TSDB, updates the ConfigMap dirs from the host with ``KubeletAtomicWriter`` (kubelet's
``..data`` symlink swap), and reads Prometheus' API from inside the pod (``podman exec``) until
the new rules and config show up. Containers run like deploy/kubernetes: uid 65532, read-only
root filesystem (no tmpfs), no new privileges, every capability dropped.
"""

from __future__ import annotations

import gzip
import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from podman_helpers import IMAGE_UID, BuiltImages, Podman, wait_for

from config_reloader.testing import KubeletAtomicWriter

CONFIG_DIR = "/etc/prometheus/config"
RULES_DIR = "/etc/prometheus/rules"
OUT_DIR = "/etc/prometheus/config_out"
CONFIG_FILE = f"{CONFIG_DIR}/prometheus.yml"
# prometheus-operator's layout: the config arrives gzipped (a Secret key prometheus.yaml.gz).
CONFIG_FILE_GZ = f"{CONFIG_DIR}/prometheus.yml.gz"
OUT_FILE = f"{OUT_DIR}/prometheus.env.yml"
PROM = "http://127.0.0.1:9090"
RELOADER = "http://127.0.0.1:8080"
# Generous: Prometheus start and a reload under a loaded 2-core machine with 7 other engineers.
DEADLINE = 90.0


def prometheus_yml(generation: int) -> bytes:
    return (
        "global:\n"
        "  scrape_interval: 1h\n"
        "  evaluation_interval: 1s\n"
        "  external_labels:\n"
        "    replica: $(POD_NAME)\n"
        f'    generation: "{generation}"\n'
        "rule_files:\n"
        f"  - {RULES_DIR}/*.yml\n"
    ).encode()


def config_payload(generation: int) -> dict[str, bytes]:
    """The config ConfigMap: plain and gzipped keys with the same content."""
    text = prometheus_yml(generation)
    return {"prometheus.yml": text, "prometheus.yml.gz": gzip.compress(text, mtime=0)}


def rules_yml(version: int) -> bytes:
    return (
        "groups:\n"
        "  - name: crtest\n"
        "    rules:\n"
        f"      - record: crtest_rules_version_{version}\n"
        f"        expr: vector({version})\n"
    ).encode()


@dataclass
class PodVolumes:
    config: KubeletAtomicWriter
    rules: KubeletAtomicWriter
    out: Path
    data: Path

    def mounts(self, *names: str) -> list[str]:
        table = {
            "config": f"{self.config.target_dir}:{CONFIG_DIR}:ro",
            "rules": f"{self.rules.target_dir}:{RULES_DIR}:ro",
            "out": f"{self.out}:{OUT_DIR}",
            "out-ro": f"{self.out}:{OUT_DIR}:ro",
            "data": f"{self.data}:/prometheus",
        }
        return [table[n] for n in names]


@pytest.fixture
def volumes(tmp_path: Path) -> PodVolumes:
    config = KubeletAtomicWriter(tmp_path / "config")
    rules = KubeletAtomicWriter(tmp_path / "rules")
    config.write(config_payload(1))
    rules.write({"crtest.yml": rules_yml(1)})
    out, data = tmp_path / "out", tmp_path / "data"
    for d in (out, data):  # an emptyDir with fsGroup: writable by the pod's uid
        d.mkdir()
        os.chown(d, IMAGE_UID, IMAGE_UID)
    # pytest's tmp dirs are 0700; the ConfigMap dirs themselves are bind-mounted, so only their
    # own modes (0755 by the writer) matter inside the container.
    return PodVolumes(config, rules, out, data)


def rule_names(podman: Podman, container: str) -> set[str]:
    doc = podman.http_json(container, f"{PROM}/api/v1/rules")
    if not isinstance(doc, dict):
        return set()
    return {r["name"] for g in doc["data"]["groups"] for r in g["rules"]}


def loaded_config(podman: Podman, container: str) -> str:
    doc = podman.http_json(container, f"{PROM}/api/v1/status/config")
    return doc["data"]["yaml"] if isinstance(doc, dict) else ""


def metric(podman: Podman, container: str, name: str) -> float | None:
    status, body = podman.http_get(container, f"{RELOADER}/metrics")
    if status != 200:
        return None
    m = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


def expect(
    podman: Podman, containers: list[str], pred: Callable[[], object], what: str, timeout: float = DEADLINE
) -> None:
    """wait_for, with the containers' logs in the failure message."""
    try:
        wait_for(pred, timeout, what)
    except BaseException:
        for c in containers:
            print(f"--- logs of {c} ---\n{podman.logs(c)[-3000:]}")
        raise


def render_init(
    podman: Podman, image: str, pod: str, volumes: PodVolumes, config_file: str = CONFIG_FILE
) -> None:
    """The init container: `watch --watch-interval=0` renders the config, then exits 0."""
    r = podman.run_once(
        image,
        ["watch", "--watch-interval=0", f"--config-file={config_file}", f"--config-envsubst-file={OUT_FILE}"],
        pod=pod,
        volumes=volumes.mounts("config", "out"),
        env={"POD_NAME": "prometheus-0"},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    rendered = (volumes.out / "prometheus.env.yml").read_text()
    assert "replica: prometheus-0" in rendered, rendered
    assert 'generation: "1"' in rendered


def test_image_version_read_only_non_root(podman: Podman, images: BuiltImages) -> None:
    r = podman.run_once(images.image, ["--version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("config-reloader "), r.stdout
    cfg = podman("image", "inspect", "--format", "{{.Config.User}} {{json .Config.Entrypoint}}", images.image)
    assert cfg.stdout.strip() == '65532:65532 ["/opt/config-reloader/bin/config-reloader"]'
    r = podman.run_once(images.image, ["cpu-features"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_sidecar_http_reload_and_init_container(
    podman: Podman, images: BuiltImages, volumes: PodVolumes
) -> None:
    pod = podman.pod()
    render_init(podman, images.image, pod, volumes)
    prom = podman.start(
        images.prometheus,
        [
            f"--config.file={OUT_FILE}",
            "--storage.tsdb.path=/prometheus",
            "--web.listen-address=127.0.0.1:9090",
            "--web.enable-lifecycle",
        ],
        pod=pod,
        volumes=volumes.mounts("out-ro", "rules", "data"),
        what="prom",
    )
    reloader = podman.start(
        images.image,
        [
            "watch",
            "--listen-address=127.0.0.1:8080",
            f"--reload-url={PROM}/-/reload",
            f"--config-file={CONFIG_FILE}",
            f"--config-envsubst-file={OUT_FILE}",
            f"--watched-dir={RULES_DIR}",
            "--delay-interval=100ms",
        ],
        pod=pod,
        volumes=volumes.mounts("config", "out", "rules"),
        env={"POD_NAME": "prometheus-0"},
        what="reloader",
    )
    both = [prom, reloader]
    expect(podman, both, lambda: "crtest_rules_version_1" in rule_names(podman, reloader), "rules v1 loaded")
    expect(podman, both, lambda: podman.http_get(reloader, f"{RELOADER}/ready")[0] == 200, "reloader ready")
    expect(podman, both, lambda: podman.http_get(reloader, f"{RELOADER}/healthz")[0] == 200, "healthz")

    volumes.rules.write({"crtest.yml": rules_yml(2)})
    expect(
        podman,
        both,
        lambda: rule_names(podman, reloader) == {"crtest_rules_version_2"},
        "rules v2 loaded after the ConfigMap update",
    )

    volumes.config.write(config_payload(2))
    expect(
        podman, both, lambda: 'generation: "2"' in loaded_config(podman, prom), "config generation 2 loaded"
    )
    assert "replica: prometheus-0" in loaded_config(podman, prom)
    assert 'generation: "2"' in (volumes.out / "prometheus.env.yml").read_text()

    expect(podman, both, lambda: metric(podman, reloader, "reloader_last_reload_successful") == 1.0, "metric")
    reloads = metric(podman, reloader, "reloader_reloads_total")
    assert reloads is not None and reloads >= 2, reloads
    assert metric(podman, reloader, "reloader_reloads_failed_total") == 0.0


def test_exec_probe_wget_reads_healthz(podman: Podman, images: BuiltImages, volumes: PodVolumes) -> None:
    """With ``listenLocal``, prometheus-operator probes the reloader by running ``curl`` or
    ``wget`` inside its container (an exec probe): the image has busybox's ``wget``."""
    pod = podman.pod()
    reloader = podman.start(
        images.image,
        [
            "watch",
            "--listen-address=127.0.0.1:8080",
            f"--config-file={CONFIG_FILE}",
            f"--config-envsubst-file={OUT_FILE}",
            f"--watched-dir={RULES_DIR}",
        ],
        pod=pod,
        volumes=volumes.mounts("config", "out", "rules"),
        env={"POD_NAME": "prometheus-0"},
        what="reloader",
    )

    def probe() -> bool:
        r = podman("exec", reloader, "wget", "-q", "-O-", f"{RELOADER}/healthz", check=False)
        return r.returncode == 0

    expect(podman, [reloader], probe, "wget -q -O- /healthz exits 0")
    r = podman("exec", reloader, "wget", "-q", "-O-", f"{RELOADER}/healthz")
    assert r.stdout.strip() == podman.http_get(reloader, f"{RELOADER}/healthz")[1].strip(), r.stdout
    # A probe of a port nobody listens on fails: the exit status is what the kubelet reads.
    r = podman("exec", reloader, "wget", "-q", "-O-", "http://127.0.0.1:8081/healthz", check=False)
    assert r.returncode != 0, r.stdout + r.stderr


def test_signal_reload_with_shared_pid_namespace(
    podman: Podman, images: BuiltImages, volumes: PodVolumes
) -> None:
    pod = podman.pod(share_pid=True)
    render_init(podman, images.image, pod, volumes, config_file=CONFIG_FILE_GZ)
    prom = podman.start(
        images.prometheus,
        # No --web.enable-lifecycle: the reload comes as SIGHUP.
        [
            f"--config.file={OUT_FILE}",
            "--storage.tsdb.path=/prometheus",
            "--web.listen-address=127.0.0.1:9090",
        ],
        pod=pod,
        volumes=volumes.mounts("out-ro", "rules", "data"),
        what="prom",
    )
    reloader = podman.start(
        images.image,
        [
            "watch",
            "--reload-method=signal",
            "--process-executable-name=prometheus",
            f"--runtimeinfo-url={PROM}/api/v1/status/runtimeinfo",
            "--listen-address=127.0.0.1:8080",
            f"--config-file={CONFIG_FILE_GZ}",
            f"--config-envsubst-file={OUT_FILE}",
            f"--watched-dir={RULES_DIR}",
            "--delay-interval=100ms",
        ],
        pod=pod,
        volumes=volumes.mounts("config", "out", "rules"),
        env={"POD_NAME": "prometheus-0"},
        what="reloader",
    )
    both = [prom, reloader]
    expect(podman, both, lambda: "crtest_rules_version_1" in rule_names(podman, reloader), "rules v1 loaded")
    # The reloader sees Prometheus' process in the shared PID namespace.
    ps = podman("exec", reloader, "sh", "-c", "cat /proc/[0-9]*/comm").stdout.split()
    assert "prometheus" in ps, ps
    status, _ = podman.http_get(reloader, f"{PROM}/-/reload")
    assert status != 200, "the lifecycle API should be off in signal mode"

    volumes.rules.write({"crtest.yml": rules_yml(2)})
    expect(
        podman,
        both,
        lambda: rule_names(podman, reloader) == {"crtest_rules_version_2"},
        "rules v2 loaded after SIGHUP",
    )
    assert "Loading configuration file" in podman.logs(prom)

    volumes.config.write(config_payload(2))  # gzipped config, new content
    expect(podman, both, lambda: 'generation: "2"' in loaded_config(podman, prom), "gzipped config v2 loaded")
    expect(podman, both, lambda: metric(podman, reloader, "reloader_last_reload_successful") == 1.0, "metric")
    status, body = podman.http_get(reloader, f"{RELOADER}/metrics")
    assert status == 200 and re.search(r'^reloader_info\{[^}]*method="signal"', body, re.M), body[-2000:]


def _this_arch() -> tuple[str, str]:
    """(systemd architecture name, a CPU feature every CPU of that architecture has)."""
    machine = platform.machine()
    if machine == "x86_64":
        return "x86-64", "sse2"
    if machine == "aarch64":
        return "arm64", "fp"
    pytest.skip(f"no entrypoint-mode test for {machine}")


def test_run_entrypoint_gates_pins_and_reloads(
    podman: Podman, images: BuiltImages, volumes: PodVolumes
) -> None:
    arch, feature = _this_arch()
    child = [
        "--",
        "/usr/bin/prometheus",
        f"--config.file={OUT_FILE}",
        "--storage.tsdb.path=/prometheus",
        "--web.listen-address=127.0.0.1:9090",
    ]
    watch_flags = [
        "--listen-address=127.0.0.1:8080",
        f"--config-file={CONFIG_FILE}",
        f"--config-envsubst-file={OUT_FILE}",
        f"--watched-dir={RULES_DIR}",
        "--delay-interval=100ms",
        "--reload-method=signal",
        f"--ready-url={PROM}/-/ready",
    ]
    all_mounts = volumes.mounts("config", "out", "rules", "data")

    # A condition that fails here: the command is skipped, never started.
    other = "arm64" if arch != "arm64" else "x86-64"
    r = podman.run_once(
        images.run,
        [f"--condition=ConditionArchitecture={other}", "--skip-exit-code=3", *watch_flags, *child],
        volumes=all_mounts,
        env={"POD_NAME": "prometheus-0"},
    )
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Server is ready to receive web requests" not in r.stdout + r.stderr

    ctr = podman.start(
        images.run,
        [
            f"--condition=ConditionArchitecture={arch}",
            f"--condition=ConditionCPUFeature={feature}",
            "--pin-cpus",
            *watch_flags,
            *child,
        ],
        volumes=all_mounts,
        env={"POD_NAME": "prometheus-0"},
        what="run",
    )
    expect(podman, [ctr], lambda: "crtest_rules_version_1" in rule_names(podman, ctr), "rules v1 loaded")
    assert "replica: prometheus-0" in loaded_config(podman, ctr)
    volumes.rules.write({"crtest.yml": rules_yml(2)})
    expect(
        podman, [ctr], lambda: rule_names(podman, ctr) == {"crtest_rules_version_2"}, "rules v2 loaded (run)"
    )
    volumes.config.write(config_payload(2))
    expect(podman, [ctr], lambda: 'generation: "2"' in loaded_config(podman, ctr), "config v2 loaded (run)")
