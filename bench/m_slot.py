"""prometheus-operator's reloader slot: our image in the operator's container spec, vs floors.

The operator runs the reloader image twice per Prometheus pod, as ``/bin/prometheus-config-reloader``
with bare flags, under ``resources`` 10m CPU / 50Mi memory (requests = limits) and a
securityContext with a read-only root, no capabilities, no privilege escalation, a non-root
uid. That spec in podman: ``--cpus 0.01 --memory 50m --read-only --cap-drop ALL --security-opt
no-new-privileges --user 1000:2000`` (podman's own tmpfs mounts off). Measured, in interleaved
rounds (the order reversed every other round, so a change of machine load hits every row alike):

- init: ``podman run`` to exit of the init container, with the operator's init arguments
  (``--watch-interval=0``: render the gzipped config once), vs the floors ``/bin/true`` and
  ``python -I -c pass`` in the same image and spec;
- first reload: ``podman run`` of the sidecar to the first ``POST /-/reload`` at a loopback
  endpoint (``--network host``), with ``--listen-address``;
- watching: ``podman run`` of the sidecar until its status server reports inotify watches
  (``reloader_watches`` > 0): the engine starts after the first reload;
- change: once it watches, a rule file replaced atomically -> the next reload request (the quota
  throttles it);
- memory: the sidecar's memory cgroup peak (``memory.max_usage_in_bytes``, cgroup v1) after its
  first reload and the changes, with ``--listen-address``; also with a ``--web-config-file``
  (TLS + basic auth, scraped once with the password);
- unthrottled CPU (user+sys, no quota): the one-shot render and the sidecar up to its first
  reload (the container's ``cpuacct.usage`` at that moment).

The watched dirs hold 10,000 rule files (1,000 with ``--quick``) in 10 dirs, as the operator
mounts one dir per rule ConfigMap; the sidecar's first reload is also measured with 20 files in
those 10 dirs (a pod with a few rules: the start-up cost without the hashing of 10,000 files).
Images: ``SLOT_IMAGE`` (default ``localhost/config-reloader:latest``, built by
deploy/container/build.sh); ``SLOT_BEFORE_IMAGE``
optionally adds an older build of ours (run as ``config-reloader watch``) for a before/after;
``SLOT_ROUNDS`` sets the number of interleaved rounds (default 4, 2 with ``--quick``).
Needs root podman (cgroup v1, cgroupfs, as deploy/container/containers.conf sets up).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _common import Cell, Result, atomic_replace, free_port, median
from _endpoint import ReloadEndpoint

REPO = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("SLOT_IMAGE", "localhost/config-reloader:latest")
BEFORE_IMAGE = os.environ.get("SLOT_BEFORE_IMAGE", "")
ROUNDS = os.environ.get("SLOT_ROUNDS", "")  # interleaved rounds; default 4 (2 with --quick)
QUOTA = ["--cpus", "0.01", "--memory", "50m"]
SECURITY = [
    "--read-only", "--read-only-tmpfs=false", "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges", "--user", "1000:2000",
]  # fmt: skip
PYTHON = "/opt/config-reloader/bin/python"
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory/libpod_parent")
CGROUP_CPUACCT = Path("/sys/fs/cgroup/cpuacct/libpod_parent")
SMALL_FILES = 20
CONFIG = b"global:\n  external_labels:\n    prometheus_replica: $(POD_NAME)\n    shard: $(SHARD)\n"


def _podman(*args: str, timeout: float = 300.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "deploy" / "container" / "containers.conf"))
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])}... -> {r.returncode}: {r.stderr.strip()[-500:]}")
    return r


def _layout(root: Path, files: int) -> None:
    """The operator's volumes: the config Secret (gzipped), config_out, rule ConfigMap dirs."""
    (root / "config").mkdir()
    (root / "config" / "prometheus.yaml.gz").write_bytes(gzip.compress(CONFIG))
    (root / "config_out").mkdir()
    os.chown(root / "config_out", 1000, 2000)
    per_dir = files // 10
    for d in range(10):
        rules = root / "rules" / f"prometheus-k8s-rulefiles-{d}"
        rules.mkdir(parents=True)
        for i in range(per_dir):
            (rules / f"ns-rule-{i}.yaml").write_text(f"groups:\n- name: g{d}-{i}\n  rules: []\n")


def _mounts(root: Path) -> list[str]:
    return [
        "-v", f"{root / 'config'}:/etc/prometheus/config:ro",
        "-v", f"{root / 'config_out'}:/etc/prometheus/config_out",
        "-v", f"{root / 'rules'}:/etc/prometheus/rules:ro",
    ]  # fmt: skip


def _flags(root: Path) -> list[str]:
    dirs = sorted(p.name for p in (root / "rules").iterdir())
    return [
        "--config-file=/etc/prometheus/config/prometheus.yaml.gz",
        "--config-envsubst-file=/etc/prometheus/config_out/prometheus.env.yaml",
        *(f"--watched-dir=/etc/prometheus/rules/{d}" for d in dirs),
    ]


def _init_flags(root: Path) -> list[str]:
    """The init container's arguments as current operators write them (its port is 8081, it gets
    the sidecar's ``--watched-dir`` flags but no ``--reload-url``); ``--watch-interval=0`` is
    added by the caller."""
    return ["--listen-address=:8081", *_flags(root)]


def _entry(image: str) -> list[str]:
    """How the image starts the reloader: the operator's command, or (older builds) our CLI."""
    if image == BEFORE_IMAGE:
        return ["--entrypoint", "/opt/config-reloader/bin/config-reloader", image, "watch"]
    return ["--entrypoint", "/bin/prometheus-config-reloader", image]


def _timed(argv: Sequence[str]) -> float:
    t0 = time.monotonic()
    _podman(*argv)
    return time.monotonic() - t0


def _cgroup_value(base: Path, cid: str, name: str) -> float | None:
    try:
        return float((base / f"libpod-{cid}" / name).read_text())
    except OSError:
        return None


def _sidecar(
    image: str,
    root: Path,
    *,
    quota: bool,
    changes: int,
    mounts: Sequence[str] = (),
    flags: Sequence[str] = (),
    scrape: tuple[str, str] | None = None,
) -> dict[str, float]:
    """Start the sidecar (``mounts`` added to podman's, ``flags`` to ours); returns first (s),
    c0.. (change -> reload, s), peak (MiB), cpu (s at the first reload), oom (1 if killed)."""
    out: dict[str, float] = {}
    rule = next(iter(sorted((root / "rules").iterdir()))) / "ns-rule-0.yaml"
    with ReloadEndpoint() as ep:
        port = free_port()
        argv = ["run", "-d", *(QUOTA if quota else []), *SECURITY, "--network", "host", *_mounts(root),
                *mounts, "-e", "POD_NAME=prometheus-k8s-0", "-e", "SHARD=0",
                *_entry(image), *_flags(root), f"--reload-url={ep.reload_url}",
                f"--listen-address=127.0.0.1:{port}", "--delay-interval=0", *flags]  # fmt: skip
        t0 = time.monotonic()
        cid = _podman(*argv).stdout.strip()
        try:
            deadline = t0 + 300
            out["first"] = _first_reload(ep, cid, t0, deadline)
            cpu = _cgroup_value(CGROUP_CPUACCT, cid, "cpuacct.usage")
            if cpu is not None:
                out["cpu"] = cpu / 1e9
            if changes:
                # The engine starts after the first reload: changes are timed once it watches.
                out["watching"] = _wait_watching(port, deadline=time.monotonic() + 300) - t0
            for i in range(changes):
                n = len(ep.arrivals)
                time.sleep(1.0)  # the previous reload settles; not a measurement
                t = time.monotonic_ns()
                atomic_replace(str(rule), f"groups:\n- name: changed-{i}-{t}\n  rules: []\n".encode())
                deadline = time.monotonic() + 120
                while len(ep.arrivals) == n and time.monotonic() < deadline:
                    time.sleep(0.005)
                if len(ep.arrivals) > n:
                    out[f"c{i}"] = (ep.arrivals[n].at_ns - t) / 1e9
            if scrape is not None:
                _scrape(port, *scrape)
            peak = _cgroup_value(CGROUP_MEMORY, cid, "memory.max_usage_in_bytes")
            if peak is not None:
                out["peak"] = peak / 2**20
            oom = _podman("inspect", "--format", "{{.State.OOMKilled}}", cid, check=False).stdout.strip()
            if oom == "true":
                out["oom"] = 1.0
        finally:
            _podman("rm", "-f", "-t", "2", cid, check=False)
    return out


def _first_reload(ep: ReloadEndpoint, cid: str, t0: float, deadline: float) -> float:
    """Wait for the container ``cid``'s first reload at ``ep``; seconds from ``t0`` (monotonic)."""
    while not ep.arrivals and time.monotonic() < deadline:
        time.sleep(0.01)
    if not ep.arrivals:
        raise RuntimeError(f"no reload within 300 s: {_podman('logs', cid, check=False).stderr[-800:]}")
    return ep.arrivals[0].at_ns / 1e9 - t0


def _wait_watching(port: int, deadline: float) -> float:
    """Poll the status server's /metrics until ``reloader_watches`` is above 0 (the engine has
    set its inotify watches); returns that moment (``time.monotonic()``)."""
    import http.client

    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/metrics")
            body = conn.getresponse().read().decode()
            conn.close()
        except OSError:
            body = ""
        for line in body.splitlines():
            if line.startswith("reloader_watches ") and float(line.split()[1]) > 0:
                return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError("the sidecar's engine did not start watching within 300 s")


def _scrape(port: int, ca: str, password: str) -> None:
    import base64
    import http.client
    import ssl

    ctx = ssl.create_default_context(cafile=ca)
    token = base64.b64encode(f"prom:{password}".encode()).decode()
    deadline = time.monotonic() + 300
    while True:  # the status server starts with the engine, after the first reload
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=120)
        try:
            conn.request("GET", "/metrics", headers={"Authorization": "Basic " + token})
            status = conn.getresponse().status
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            conn.close()
    if status != 200:
        raise RuntimeError(f"/metrics with TLS + basic auth answered {status}")


def _web_config(root: Path) -> tuple[list[str], tuple[str, str]] | None:
    """A web config with TLS (openssl-made certificate) and a bcrypt user; None without openssl."""
    if shutil.which("openssl") is None:
        return None
    import bcrypt

    web = root / "web"
    web.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "tls.key", "-out", "tls.crt", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        cwd=web, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    os.chmod(web / "tls.key", 0o644)  # read by uid 1000 in the container (a Secret volume's default mode)
    hashed = bcrypt.hashpw(b"scrape", bcrypt.gensalt(10)).decode()
    (web / "web.yml").write_text(
        "tls_server_config:\n  cert_file: /etc/web/tls.crt\n  key_file: /etc/web/tls.key\n"
        f"basic_auth_users:\n  prom: {hashed}\n"
    )
    return ["-v", f"{web}:/etc/web:ro"], (str(web / "tls.crt"), "scrape")


def _unthrottled_one_shot(image: str, root: Path, runs: int) -> tuple[float | None, float | None]:
    """Median user+sys CPU seconds of the one-shot render and of ``python -I -c pass``, measured
    inside one container with wait4 (no quota)."""
    code = (
        "import os,subprocess,statistics,sys\n"
        "def cpu(argv):\n"
        "    out=[]\n"
        f"    for _ in range({runs}):\n"
        "        p=subprocess.Popen(argv,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\n"
        "        _,st,ru=os.wait4(p.pid,0)\n"
        "        assert st==0, argv\n"
        "        out.append(ru.ru_utime+ru.ru_stime)\n"
        "    return statistics.median(out)\n"
        f"print(cpu(['/bin/prometheus-config-reloader','--watch-interval=0',*sys.argv[1:]]),"
        f" cpu(['{PYTHON}','-I','-c','pass']))\n"
    )
    r = _podman(
        "run", "--rm", *SECURITY, "--network", "none", *_mounts(root), "-e", "POD_NAME=prometheus-k8s-0",
        "-e", "SHARD=0", "--entrypoint", PYTHON, image, "-c", code, *_init_flags(root), check=False,
    )  # fmt: skip
    try:
        ours, floor = (float(x) for x in r.stdout.split())
    except ValueError:
        return None, None
    return ours, floor


def run(quick: bool) -> Result:
    res = Result("slot")
    if shutil.which("podman") is None or _podman("image", "exists", IMAGE, check=False).returncode != 0:
        res.notes.append(
            f"skipped: podman or the image {IMAGE} is missing (deploy/container/build.sh builds it)"
        )
        return res
    rounds = int(ROUNDS) if ROUNDS else 2 if quick else 4
    changes = 2 if quick else 3
    files = 1000 if quick else 10_000
    images = [IMAGE, *([BEFORE_IMAGE] if BEFORE_IMAGE else [])]
    label = {IMAGE: "config-reloader", BEFORE_IMAGE: "config-reloader (before)"}
    init: dict[str, list[float]] = {}
    side: dict[str, dict[str, list[float]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-slot-") as td,
        tempfile.TemporaryDirectory(prefix="bench-slot-small-") as small_td,
    ):
        root, small = Path(td), Path(small_td)
        for r in (root, small):
            os.chmod(r, 0o755)
        _layout(root, files)
        _layout(small, SMALL_FILES)
        web = _web_config(root)
        base = ["run", "--rm", *QUOTA, *SECURITY, "--network", "none", *_mounts(root),
                "-e", "POD_NAME=prometheus-k8s-0", "-e", "SHARD=0"]  # fmt: skip
        cmds: dict[str, list[str]] = {
            "/bin/true": [*base, "--entrypoint", "/bin/true", IMAGE],
            "python -I -c pass": [*base, "--entrypoint", PYTHON, IMAGE, "-I", "-c", "pass"],
        }
        for image in images:
            cmds[label[image]] = [*base, *_entry(image), "--watch-interval=0", *_init_flags(root)]
        _podman(*cmds["/bin/true"])  # warm the storage
        for r in range(rounds):
            order = list(cmds.items()) if r % 2 == 0 else list(reversed(cmds.items()))
            for name, argv in order:
                init.setdefault(name, []).append(_timed(argv))
            for image in images if r % 2 == 0 else list(reversed(images)):
                got = _sidecar(image, small, quota=True, changes=0)
                side.setdefault(f"{label[image]}, {SMALL_FILES} files", {}).setdefault("first", []).append(
                    got["first"]
                )
                got = _sidecar(image, root, quota=True, changes=changes)
                cell = side.setdefault(label[image], {})
                for k, v in got.items():
                    cell.setdefault("c" if k[0] == "c" and k[1:].isdigit() else k, []).append(v)
                if web is not None:
                    mounts, scrape = web
                    got = _sidecar(image, root, quota=True, changes=0, mounts=mounts,
                                   flags=["--web-config-file=/etc/web/web.yml"], scrape=scrape)  # fmt: skip
                    for k, v in got.items():
                        side.setdefault(label[image] + " +TLS+auth", {}).setdefault(k, []).append(v)
        unthrottled = _unthrottled_one_shot(IMAGE, root, 5 if quick else 15)
        cpu_first = [
            _sidecar(IMAGE, root, quota=False, changes=0).get("cpu") for _ in range(2 if quick else 4)
        ]

    floor = "python -I -c pass"
    for name in cmds:
        res.cells.append(
            Cell("slot init (podman run to exit)", name, "s", init[name], reference=name == floor)
        )
    floor_init = median(init[floor]) or float("nan")
    for name, got in side.items():
        first = got.get("first", [])
        ratio = (median(first) or float("nan")) / floor_init
        measure = "slot first reload (podman run to POST)"
        res.cells.append(Cell(measure, name, "s", first, note=f"{ratio:.2f}x python -I -c pass init"))
        if got.get("watching"):
            res.cells.append(Cell("slot watching (podman run to watches set)", name, "s", got["watching"]))
        if got.get("c"):
            res.cells.append(Cell("slot change -> reload", name, "s", got["c"]))
        if "peak" in got:
            note = "OOM-killed" if got.get("oom") else ""
            res.cells.append(Cell("slot memory peak (cgroup)", name, "MiB", got["peak"], note=note))
    ours, py = unthrottled
    if ours is not None and py is not None:
        res.cells.append(
            Cell(
                "slot CPU one-shot, no quota (user+sys)",
                "python -I -c pass",
                "ms",
                [py * 1e3],
                reference=True,
            )
        )
        res.cells.append(
            Cell("slot CPU one-shot, no quota (user+sys)", "config-reloader", "ms", [ours * 1e3])
        )
    firsts = [c * 1e3 for c in cpu_first if c is not None]
    if firsts:
        res.cells.append(Cell("slot CPU to first reload, no quota (cgroup)", "config-reloader", "ms", firsts))
    res.commands.append("podman " + " ".join(cmds[label[IMAGE]]))
    res.notes.append(
        f"{files:,} rule files in 10 dirs; {rounds} interleaved rounds; spec {' '.join(QUOTA + SECURITY)}"
    )
    return res
