"""Offline checks of deploy/kubernetes/*.yaml.

1. Every document validates against the Kubernetes OpenAPI schemas shipped by the
   ``kubernetes-validate`` package, in strict mode (unknown fields are errors, so a typo such as
   ``readOnlyRootFilesytem`` cannot silently drop a hardening setting).
2. Every config-reloader command line in them parses with our real CLI parser.
3. The wiring holds: paths given to the reloader are mounted in its container, the output it
   renders is the file Prometheus reads, probes hit the reloader's --listen-address port,
   hardening and resource requests are present, signal mode shares the PID namespace with the
   same uid, and the ConfigMaps referenced exist and hold rules that ``promtool`` accepts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import childproc
import kubernetes_validate
import pytest
import yaml

from config_reloader.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
K8S_DIR = REPO / "deploy" / "kubernetes"
# The oldest schema set the installed kubernetes-validate ships (1.37.0 ships 1.34-1.37); every
# field used here exists since Kubernetes 1.25 at the latest.
K8S_VERSION = "1.34.0"
RELOADER_BINARY = "config-reloader"

Doc = dict[str, Any]


def _documents() -> list[tuple[str, int, Doc]]:
    out = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        with path.open() as f:
            for i, doc in enumerate(yaml.safe_load_all(f)):
                if doc is not None:
                    out.append((path.name, i, doc))
    return out


DOCUMENTS = _documents()


def _id(entry: tuple[str, int, Doc]) -> str:
    name, i, doc = entry
    return f"{name}#{i}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def _pod_specs() -> Iterator[tuple[str, Doc]]:
    for name, _i, doc in DOCUMENTS:
        if doc.get("kind") in {"Deployment", "StatefulSet", "DaemonSet"}:
            yield f"{name}:{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


POD_SPECS = list(_pod_specs())


def _containers(spec: Doc) -> list[tuple[str, Doc]]:
    return [("init", c) for c in spec.get("initContainers", [])] + [
        ("main", c) for c in spec.get("containers", [])
    ]


def _reloader_argv(container: Doc) -> list[str] | None:
    """The argv after the program name if this container runs config-reloader, else None."""
    command = container.get("command") or []
    if command and os.path.basename(command[0]) == RELOADER_BINARY:
        return [*command[1:], *container.get("args", [])]
    return None


RELOADER_CONTAINERS = [
    (f"{where}:{c['name']}", spec, c, argv)
    for where, spec in POD_SPECS
    for _kind, c in _containers(spec)
    if (argv := _reloader_argv(c)) is not None
]


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse with the real CLI; ``.subcommand`` is set from the module of the chosen handler (the
    top-level ``command`` dest is shared with ``run``'s COMMAND positional, so not used here)."""
    args = build_parser().parse_args(argv)
    func = getattr(args, "func", None)
    assert callable(func), f"{argv[:1]}: no subcommand handler"
    args.subcommand = func.__module__.rsplit(".", 1)[-1]
    return args


def _mount_for(container: Doc, path: str) -> Doc | None:
    """The volumeMount whose mountPath contains ``path`` (longest match), or None."""
    best: Doc | None = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if (path == mp or path.startswith(mp + "/")) and (best is None or len(mp) > len(best["mountPath"])):
            best = m
    return best


def test_manifests_exist() -> None:
    names = {p.name for p in K8S_DIR.glob("*.yaml")}
    assert {
        "configmaps.yaml",
        "prometheus-sidecar.yaml",
        "prometheus-signal.yaml",
        "prometheus-run.yaml",
    } <= names
    assert len(RELOADER_CONTAINERS) >= 5  # 2 init + 2 sidecars + 1 entrypoint


@pytest.mark.parametrize("entry", DOCUMENTS, ids=[_id(e) for e in DOCUMENTS])
def test_schema_valid_strict(entry: tuple[str, int, Doc]) -> None:
    _name, _i, doc = entry
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strict_validation_catches_a_typo() -> None:
    """Guards the guard: a misspelled securityContext field must be rejected."""
    _where, spec = POD_SPECS[0]
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "typo"},
        "spec": {
            "containers": [{**spec["containers"][0], "securityContext": {"readOnlyRootFilesytem": True}}]
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    "where,argv", [(w, a) for w, _s, _c, a in RELOADER_CONTAINERS], ids=[w for w, *_ in RELOADER_CONTAINERS]
)
def test_reloader_command_line_parses(where: str, argv: list[str]) -> None:
    args = _parse(argv)
    assert args.subcommand == argv[0], where
    assert args.subcommand in {"watch", "run"}, where


@pytest.mark.parametrize(
    "where,spec,container,argv", RELOADER_CONTAINERS, ids=[w for w, *_ in RELOADER_CONTAINERS]
)
def test_reloader_paths_are_mounted(where: str, spec: Doc, container: Doc, argv: list[str]) -> None:
    args = _parse(argv)
    for path in [args.config_file, *(args.watched_dir or [])]:
        if path:
            assert _mount_for(container, path) is not None, f"{where}: {path} is not mounted"
    if args.config_envsubst_file:
        m = _mount_for(container, args.config_envsubst_file)
        assert m is not None, f"{where}: output {args.config_envsubst_file} is not mounted"
        assert not m.get("readOnly", False), f"{where}: output mount {m['name']} is read-only"
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[m["name"]], "rendered config belongs on an emptyDir"


@pytest.mark.parametrize("where,spec", POD_SPECS, ids=[w for w, _ in POD_SPECS])
def test_prometheus_reads_what_the_reloader_renders(where: str, spec: Doc) -> None:
    outputs = set()
    for _w, s, _c, argv in RELOADER_CONTAINERS:
        if s is spec:
            args = _parse(argv)
            if args.config_envsubst_file:
                outputs.add(args.config_envsubst_file)
    prom_args: list[str] = []
    for _kind, c in _containers(spec):
        reloader_argv = _reloader_argv(c)
        if reloader_argv is None:
            prom_args += c.get("args", [])
        elif "--" in reloader_argv:  # entrypoint mode: the child's command line
            prom_args += reloader_argv[reloader_argv.index("--") + 1 :]
    config_flags = [a.split("=", 1)[1] for a in prom_args if a.startswith("--config.file=")]
    assert config_flags, f"{where}: no Prometheus --config.file"
    assert set(config_flags) <= outputs, (
        f"{where}: Prometheus reads {config_flags}, reloader renders {outputs}"
    )


@pytest.mark.parametrize("where,spec", POD_SPECS, ids=[w for w, _ in POD_SPECS])
def test_hardening_and_resources(where: str, spec: Doc) -> None:
    pod_sc = spec.get("securityContext", {})
    assert pod_sc.get("runAsNonRoot") is True
    assert isinstance(pod_sc.get("runAsUser"), int) and pod_sc["runAsUser"] != 0
    assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    for _kind, c in _containers(spec):
        sc = c.get("securityContext", {})
        name = f"{where}/{c['name']}"
        assert sc.get("runAsNonRoot") is True, name
        assert sc.get("readOnlyRootFilesystem") is True, name
        assert sc.get("allowPrivilegeEscalation") is False, name
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], name
        assert "add" not in sc.get("capabilities", {}), name
        req = c.get("resources", {}).get("requests", {})
        assert req.get("cpu") and req.get("memory"), f"{name}: resource requests missing"
        assert c.get("resources", {}).get("limits", {}).get("memory"), f"{name}: no memory limit"


@pytest.mark.parametrize(
    "where,spec,container,argv", RELOADER_CONTAINERS, ids=[w for w, *_ in RELOADER_CONTAINERS]
)
def test_long_running_reloader_has_probes_on_its_port(
    where: str, spec: Doc, container: Doc, argv: list[str]
) -> None:
    args = _parse(argv)
    is_init = container in spec.get("initContainers", [])
    if is_init:
        assert args.watch_interval == 0, f"{where}: an init container must render once and exit"
        assert "livenessProbe" not in container and "readinessProbe" not in container
        return
    assert args.listen_address, f"{where}: a long-running reloader needs --listen-address"
    port = int(args.listen_address.rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    liveness = container["livenessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz"
    assert ports.get(liveness["port"], liveness["port"]) == port
    if args.subcommand == "watch":
        readiness = container["readinessProbe"]["httpGet"]
        assert readiness["path"] == "/ready"
        assert ports.get(readiness["port"], readiness["port"]) == port


def test_signal_variant_shares_pid_namespace_and_uid() -> None:
    signal_pods = [
        (w, s)
        for w, s, _c, argv in RELOADER_CONTAINERS
        if _parse(argv).subcommand == "watch" and _parse(argv).reload_method == "signal"
    ]
    assert signal_pods, "no watch --reload-method=signal example"
    for where, spec in signal_pods:
        assert spec.get("shareProcessNamespace") is True, where
        uids = {
            c.get("securityContext", {}).get("runAsUser", spec["securityContext"].get("runAsUser"))
            for c in spec["containers"]
        }
        assert len(uids) == 1, f"{where}: signalling across uids needs CAP_KILL ({uids})"
        prom = [c for c in spec["containers"] if _reloader_argv(c) is None]
        assert all("--web.enable-lifecycle" not in c.get("args", []) for c in prom), (
            f"{where}: signal mode should not need the lifecycle API"
        )


def test_http_variant_enables_lifecycle() -> None:
    for where, spec, _c, argv in RELOADER_CONTAINERS:
        args = _parse(argv)
        if args.subcommand == "watch" and args.reload_method == "http" and args.watch_interval != 0:
            prom = [c for c in spec["containers"] if _reloader_argv(c) is None]
            assert any("--web.enable-lifecycle" in c.get("args", []) for c in prom), where


def test_entrypoint_variant_gates_on_cpu_feature() -> None:
    runs = [(w, _parse(a)) for w, _s, _c, a in RELOADER_CONTAINERS if _parse(a).subcommand == "run"]
    assert runs, "no `config-reloader run` entrypoint example"
    for where, _args in runs:
        argv = next(a for w, _s, _c, a in RELOADER_CONTAINERS if w == where)
        gate = argv[: argv.index("--")]
        assert any(a.startswith("--condition=ConditionCPUFeature=") for a in gate), where
        assert "--pin-cpus" in gate, where


def _configmaps() -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for _n, _i, d in DOCUMENTS if d.get("kind") == "ConfigMap"}


@pytest.mark.parametrize("where,spec", POD_SPECS, ids=[w for w, _ in POD_SPECS])
def test_referenced_configmaps_exist(where: str, spec: Doc) -> None:
    cms = _configmaps()
    for v in spec["volumes"]:
        if "configMap" in v:
            assert v["configMap"]["name"] in cms, f"{where}: ConfigMap {v['configMap']['name']} missing"


def test_configmap_contents_pass_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus (CI installs it)"
    cms = _configmaps()
    rules = cms["prometheus-rules"]["data"]
    assert rules
    for key, text in rules.items():
        f = tmp_path / key
        f.write_text(text)
        r = childproc.run([promtool, "check", "rules", str(f)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{key}: {r.stdout}{r.stderr}"
    config = cms["prometheus-config"]["data"]["prometheus.yml"]
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for key, text in rules.items():
        (rules_dir / key).write_text(text)
    # What the reloader renders ($(POD_NAME) expanded) with the rules glob pointed at the copy.
    rendered = config.replace("$(POD_NAME)", "prometheus-0").replace(
        "/etc/prometheus/rules/", f"{rules_dir}/"
    )
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(rendered)
    r = childproc.run([promtool, "check", "config", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 1 rule files found" in r.stdout + r.stderr


def _doc_command_lines() -> list[list[str]]:
    """`config-reloader ...` lines of the code blocks in docs/deploy.md (continuations joined)."""
    text = (REPO / "docs" / "deploy.md").read_text()
    blocks = text.split("```")[1::2]
    out = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith(RELOADER_BINARY + " "):
                out.append(shlex.split(line.split("#", 1)[0])[1:])
    return out


DOC_LINES = _doc_command_lines()


def test_docs_have_command_lines() -> None:
    assert {argv[0] for argv in DOC_LINES} >= {"watch", "run", "condition"}


@pytest.mark.parametrize("argv", DOC_LINES, ids=[" ".join(a)[:60] for a in DOC_LINES])
def test_docs_command_lines_parse(argv: list[str]) -> None:
    args = _parse(argv)
    assert args.subcommand == argv[0]
