"""Helpers for the podman end-to-end tests (marker ``container``); fixtures are in conftest.py.

Where podman cannot run a container, every test here is skipped with the reason printed (the
probe really runs one: a tiny image made of the host's ``/bin/true`` and its libraries, so the
probe needs no registry and no image build). Where podman works, the images are built once per
session by ``deploy/container/build.sh`` (the Debian base is cached by the script); a failing
build is a test failure, not a skip.

All podman calls go through :class:`Podman`, which sets ``CONTAINERS_CONF`` to
``deploy/container/containers.conf`` (runc, cgroupfs, RLIMIT_NOFILE that the host allows).
Containers and pods are named ``crtest-<random>`` and removed at teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import childproc
import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "deploy" / "container" / "build.sh"
CONTAINERS_CONF = REPO / "deploy" / "container" / "containers.conf"
IMAGE = os.environ.get("IMAGE", "localhost/config-reloader:latest")
PROM_IMAGE = os.environ.get("PROM_IMAGE", "localhost/config-reloader-prometheus:bookworm")
RUN_IMAGE = os.environ.get("RUN_IMAGE", "localhost/config-reloader-run:latest")
PROBE_IMAGE = "localhost/config-reloader-probe:latest"
# uid/gid of both images (deploy/container/*Containerfile): volumes they write must be theirs.
IMAGE_UID = 65532


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


@dataclass
class Podman:
    """Thin runner for the podman CLI; remembers what it created, for cleanup."""

    binary: str
    created_pods: list[str] = field(default_factory=list)
    created_containers: list[str] = field(default_factory=list)

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120.0, input_: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        r = childproc.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=podman_env(),
            input=input_.decode() if input_ is not None else None,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def name(self, what: str) -> str:
        return f"crtest-{what}-{uuid.uuid4().hex[:8]}"

    def pod(self, *, share_pid: bool = False) -> str:
        """A pod with its own network namespace holding only loopback (as a Pod's containers
        share one), optionally a shared PID namespace (shareProcessNamespace: true)."""
        name = self.name("pod")
        share = "net,ipc,uts,pid" if share_pid else "net,ipc,uts"
        self("pod", "create", "--name", name, "--network", "none", "--share", share)
        self.created_pods.append(name)
        return name

    def run_args(self, name: str, pod: str | None, volumes: Sequence[str], env: dict[str, str]) -> list[str]:
        """Flags that mirror the Kubernetes securityContext of deploy/kubernetes: read-only root
        without podman's convenience tmpfs mounts, no new privileges, every capability dropped."""
        args = ["--name", name, "--read-only", "--read-only-tmpfs=false"]
        args += ["--security-opt", "no-new-privileges", "--cap-drop", "ALL"]
        args += ["--pod", pod] if pod else ["--network", "none"]
        for v in volumes:
            args += ["-v", v]
        for k, val in env.items():
            args += ["-e", f"{k}={val}"]
        return args

    def start(
        self,
        image: str,
        argv: Sequence[str],
        *,
        pod: str | None = None,
        volumes: Sequence[str] = (),
        env: dict[str, str] | None = None,
        what: str = "ctr",
    ) -> str:
        name = self.name(what)
        self("run", "-d", *self.run_args(name, pod, volumes, env or {}), image, *argv)
        self.created_containers.append(name)
        return name

    def run_once(
        self,
        image: str,
        argv: Sequence[str],
        *,
        pod: str | None = None,
        volumes: Sequence[str] = (),
        env: dict[str, str] | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        name = self.name("once")
        return self(
            "run", "--rm", *self.run_args(name, pod, volumes, env or {}), image, *argv,
            check=False, timeout=timeout,
        )  # fmt: skip

    def http_get(self, container: str, url: str, timeout: float = 30.0) -> tuple[int, str]:
        """GET ``url`` from inside ``container`` (its network namespace; both images have
        python3). Returns (status, body); status 0 when the connection failed."""
        code = (
            "import sys,urllib.request,urllib.error\n"
            "try:\n"
            "    r=urllib.request.urlopen(sys.argv[1],timeout=5); print(r.status); print(r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(e.code); print(e.read().decode())\n"
            "except OSError as e:\n"
            "    print(0); print(e)\n"
        )
        r = self("exec", container, "python3", "-c", code, url, check=False, timeout=timeout)
        if r.returncode != 0:
            return 0, r.stderr
        status, _, body = r.stdout.partition("\n")
        return int(status), body

    def http_json(self, container: str, url: str) -> object:
        status, body = self.http_get(container, url)
        if status != 200:
            return None
        return json.loads(body)

    def logs(self, container: str) -> str:
        r = self("logs", container, check=False)
        return r.stdout + r.stderr

    def cleanup(self) -> None:
        for c in reversed(self.created_containers):
            self("rm", "-f", "-t", "2", c, check=False)
        for p in reversed(self.created_pods):
            self("pod", "rm", "-f", "-t", "2", p, check=False)


def wait_for(pred: Callable[[], object], timeout: float, what: str, interval: float = 0.3) -> object:
    """Poll ``pred`` until it returns a truthy value or ``timeout`` seconds pass (then fail with
    ``what``). Deadline-based: the container tests run on a loaded 2-core machine."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def _probe_rootfs(path: Path) -> None:
    """A rootfs tar with /bin/true and the shared libraries it needs (from ldd)."""
    true_bin = shutil.which("true") or "/bin/true"
    files = {os.path.realpath(true_bin): "bin/true"}
    out = childproc.run(["ldd", true_bin], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        for token in line.split():
            if token.startswith("/") and os.path.exists(token):
                files[os.path.realpath(token)] = token.lstrip("/")
    with tarfile.open(path, "w") as tar:
        for src, arc in files.items():
            tar.add(src, arcname=arc)


def podman_cannot_run_containers(tmp: Path) -> str | None:
    """None if podman runs a trivial container here, else the reason."""
    binary = shutil.which("podman")
    if binary is None:
        return "podman is not installed (bash .ci/container-setup.sh installs it)"
    env = podman_env()
    try:
        if childproc.run([binary, "image", "exists", PROBE_IMAGE], env=env, timeout=60).returncode != 0:
            rootfs = tmp / "probe.tar"
            _probe_rootfs(rootfs)
            r = childproc.run(
                [binary, "import", str(rootfs), PROBE_IMAGE],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
            )
            if r.returncode != 0:
                return f"podman import fails: {r.stderr.strip()[-400:]}"
        r = childproc.run(
            [binary, "run", "--rm", "--network", "none", PROBE_IMAGE, "/bin/true"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"podman cannot run a container: {exc}"
    if r.returncode != 0:
        return f"podman cannot run a trivial container: {r.stderr.strip()[-400:]}"
    return None


@dataclass(frozen=True)
class BuiltImages:
    image: str
    prometheus: str
    run: str
    build_seconds: float
