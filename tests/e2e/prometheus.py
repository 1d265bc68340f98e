"""A real Prometheus for end-to-end tests (Debian package ``prometheus``, loopback only).

Importable by every e2e test (``from tests.e2e.prometheus import start_prometheus`` or, with
``tests/e2e`` on ``sys.path`` through conftest, ``from prometheus import ...``). Synchronous on
purpose (urllib, subprocess) so both sync and asyncio tests can use it; every wait has a deadline.

Source of the endpoints: Prometheus HTTP API docs (``/-/ready``, ``/-/reload`` with
``--web.enable-lifecycle``, ``/api/v1/status/runtimeinfo`` with ``reloadConfigSuccess`` and
``lastConfigTime``, ``/api/v1/rules``).

TLS and basic auth: ``start_prometheus(..., web=WebConfig(...))`` passes ``--web.config.file``
(exporter-toolkit format: ``tls_server_config`` with a certificate made by the openssl CLI,
``basic_auth_users`` with bcrypt hashes). Prometheus re-reads that file at every request, so
:meth:`WebConfig.set_password` rotates the password of a running server; the helper's own
requests follow (``PrometheusProcess.web``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import childproc

__all__ = [
    "PROMETHEUS_BIN",
    "PrometheusProcess",
    "WebConfig",
    "free_port",
    "make_web_config",
    "prometheus_available",
    "self_signed_cert",
    "start_prometheus",
    "wait_for",
]

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"

T = TypeVar("T")


def prometheus_available() -> bool:
    """True when the prometheus binary exists and is executable."""
    return os.access(PROMETHEUS_BIN, os.X_OK)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: Callable[[], T], timeout: float, *, interval: float = 0.05, what: str = "condition") -> T:
    """Poll ``pred`` until it returns a truthy value (returned) or ``timeout`` seconds pass.

    Exceptions from ``pred`` count as "not yet". Raises TimeoutError naming ``what`` and the last
    value/exception seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = pred()
            if value:
                return value
            last = value
        except Exception as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def self_signed_cert(directory: str, name: str = "server") -> tuple[str, str]:
    """A self-signed certificate for ``127.0.0.1`` and ``localhost`` made by the openssl CLI
    (EC P-256, 2 days): returns ``(cert_path, key_path)``."""
    cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    childproc.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@dataclass
class WebConfig:
    """An exporter-toolkit web config file (``--web.config.file``): TLS with ``cert``/``key`` and
    basic auth for ``user`` with a bcrypt hash of ``password``. The certificate doubles as the
    client's CA (it is self-signed)."""

    path: str
    cert: str
    key: str
    user: str
    password: str

    def write(self) -> None:
        import bcrypt

        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(4)).decode()
        text = (
            f"tls_server_config:\n  cert_file: {self.cert}\n  key_file: {self.key}\n"
            f"basic_auth_users:\n  {self.user}: {hashed}\n"
        )
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path)

    def set_password(self, password: str) -> None:
        """Rotate: the running server checks the new one from its next request on."""
        self.password = password
        self.write()

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cert)

    def headers(self) -> dict[str, str]:
        pair = f"{self.user}:{self.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def make_web_config(directory: str, *, user: str = "reloader", password: str = "first-pass") -> WebConfig:
    """A self-signed certificate and a web config with one basic-auth user, written in ``directory``."""
    cert, key = self_signed_cert(directory)
    web = WebConfig(os.path.join(directory, "web.yml"), cert, key, user, password)
    web.write()
    return web


@dataclass
class PrometheusProcess:
    """A running Prometheus. ``url`` is ``http://127.0.0.1:<port>`` (``https`` with ``web``)."""

    proc: subprocess.Popen[bytes]
    port: int
    config_file: str
    data_dir: str
    log_path: str
    args: list[str] = field(default_factory=list)
    web: WebConfig | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"{'https' if self.web else 'http'}://127.0.0.1:{self.port}"

    def _open(self, url: str, *, method: str = "GET", timeout: float = 5.0) -> Any:
        req = urllib.request.Request(url, method=method, headers=self.web.headers() if self.web else {})
        ctx = self.web.context() if self.web else None
        return urllib.request.urlopen(req, timeout=timeout, context=ctx)

    @property
    def reload_url(self) -> str:
        return self.url + "/-/reload"

    @property
    def runtimeinfo_url(self) -> str:
        return self.url + "/api/v1/status/runtimeinfo"

    def get_json(self, path: str, timeout: float = 5.0) -> Any:
        with self._open(self.url + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def is_ready(self) -> bool:
        try:
            with self._open(self.url + "/-/ready", timeout=2.0) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def runtimeinfo(self) -> dict[str, Any]:
        """``data`` of /api/v1/status/runtimeinfo (``reloadConfigSuccess``, ``lastConfigTime``...)."""
        body = self.get_json("/api/v1/status/runtimeinfo")
        assert body["status"] == "success", body
        data: dict[str, Any] = body["data"]
        return data

    def rule_names(self) -> set[str]:
        """Names of every loaded rule (alerting ``alert`` or recording ``record``) via /api/v1/rules."""
        body = self.get_json("/api/v1/rules")
        names: set[str] = set()
        for group in body["data"]["groups"]:
            for rule in group["rules"]:
                names.add(rule["name"])
        return names

    def rule_groups(self) -> set[str]:
        body = self.get_json("/api/v1/rules")
        return {g["name"] for g in body["data"]["groups"]}

    def loaded_config(self) -> str:
        """The YAML Prometheus currently runs (/api/v1/status/config)."""
        body = self.get_json("/api/v1/status/config")
        return str(body["data"]["yaml"])

    def reload(self) -> int:
        """POST /-/reload directly; returns the HTTP status."""
        try:
            with self._open(self.reload_url, method="POST", timeout=30) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                tail = self.log_text()[-3000:]
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{tail}")
            return self.is_ready()

        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"prometheus not ready after {timeout}s:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        terminate(self.proc, timeout)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM ``proc`` (a server a test started), SIGKILL it if it is still there after
    ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_prometheus(
    config_file: str,
    workdir: str,
    *,
    lifecycle: bool = True,
    extra_args: Sequence[str] = (),
    wait: bool = True,
    timeout: float = 30.0,
    web: WebConfig | None = None,
) -> PrometheusProcess:
    """Start ``prometheus`` on a free 127.0.0.1 port with its TSDB under ``workdir``.

    Args:
        config_file: ``--config.file``.
        workdir: a temp dir owned by the test (data dir and log file go here).
        lifecycle: pass ``--web.enable-lifecycle`` (needed for HTTP ``/-/reload``).
        extra_args: more flags.
        wait: block until ``/-/ready`` answers 200 (``timeout`` seconds).
        web: serve TLS + basic auth with this web config (``--web.config.file``).

    The caller must ``stop()`` it (use :func:`running_prometheus` or the conftest fixture).
    """
    port = free_port()
    data_dir = os.path.join(workdir, "tsdb")
    os.makedirs(data_dir, exist_ok=True)
    log_path = os.path.join(workdir, f"prometheus-{port}.log")
    args = [
        PROMETHEUS_BIN,
        f"--config.file={config_file}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={data_dir}",
        "--log.level=info",
    ]
    if lifecycle:
        args.append("--web.enable-lifecycle")
    if web is not None:
        args.append(f"--web.config.file={web.path}")
    args.extend(extra_args)
    with open(log_path, "ab") as log:
        proc = childproc.popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    p = PrometheusProcess(
        proc=proc,
        port=port,
        config_file=config_file,
        data_dir=data_dir,
        log_path=log_path,
        args=args,
        web=web,
    )
    if wait:
        try:
            p.wait_ready(timeout)
        except BaseException:
            p.stop()
            raise
    return p


@contextlib.contextmanager
def running_prometheus(config_file: str, workdir: str, **kw: Any) -> Iterator[PrometheusProcess]:
    """Context manager around :func:`start_prometheus` that always stops the process."""
    p = start_prometheus(config_file, workdir, **kw)
    try:
        yield p
    finally:
        p.stop()
