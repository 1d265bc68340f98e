"""A real Alertmanager for end-to-end tests (Debian package ``prometheus-alertmanager``, loopback).

Clustering is off (``--cluster.listen-address=``: no gossip port, nothing leaves 127.0.0.1). Its
reload endpoint ``POST /-/reload`` is always on (no lifecycle flag) and answers 200 after a good
load; ``GET /api/v2/status`` returns the loaded configuration as ``config.original``. With a
:class:`~prometheus.WebConfig` it serves TLS + basic auth (``--web.config.file``), like Prometheus.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import childproc
from prometheus import WebConfig, free_port, terminate

__all__ = ["ALERTMANAGER_BIN", "AlertmanagerProcess", "alertmanager_available", "start_alertmanager"]

ALERTMANAGER_BIN = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def alertmanager_available() -> bool:
    return os.access(ALERTMANAGER_BIN, os.X_OK)


@dataclass
class AlertmanagerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: str
    web: WebConfig | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.web else 'http'}://127.0.0.1:{self.port}"

    @property
    def reload_url(self) -> str:
        return self.url + "/-/reload"

    def get_json(self, path: str, timeout: float = 5.0) -> Any:
        req = urllib.request.Request(self.url + path, headers=self.web.headers() if self.web else {})
        ctx = self.web.context() if self.web else None
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return json.loads(resp.read())

    def loaded_config(self) -> str:
        """The configuration Alertmanager runs (``/api/v2/status`` ``config.original``)."""
        return str(self.get_json("/api/v2/status")["config"]["original"])

    def log_text(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        terminate(self.proc, timeout)


def start_alertmanager(
    config_file: str, workdir: str, *, web: WebConfig | None = None, timeout: float = 30.0
) -> AlertmanagerProcess:
    """Start Alertmanager on a free 127.0.0.1 port; wait until ``/api/v2/status`` answers."""
    port = free_port()
    data = os.path.join(workdir, "am-data")
    os.makedirs(data, exist_ok=True)
    log_path = os.path.join(workdir, f"alertmanager-{port}.log")
    args = [
        ALERTMANAGER_BIN,
        f"--config.file={config_file}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=info",
    ]
    if web is not None:
        args.append(f"--web.config.file={web.path}")
    with open(log_path, "ab") as log:
        proc = childproc.popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    am = AlertmanagerProcess(proc=proc, port=port, log_path=log_path, web=web)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"alertmanager exited with {proc.returncode}:\n{am.log_text()[-3000:]}")
        try:
            am.loaded_config()
            return am
        except OSError:
            pass
        if time.monotonic() >= deadline:
            am.stop()
            raise TimeoutError(f"alertmanager not up after {timeout}s:\n{am.log_text()[-3000:]}")
        time.sleep(0.05)
