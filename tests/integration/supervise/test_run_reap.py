"""Zombie reaping: as child subreaper, and as PID 1 of a PID namespace (unshare, root only)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import urllib.request

import pytest
from supervise_helpers import wait_for

from config_reloader.supervise import list_children


def _metric(log: str, name: str) -> float:
    port = re.search(r'msg="serving metrics".* port=(\d+)', log)
    assert port, log
    body = urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{name} ([0-9.e+]+)$", body, re.M)
    assert m, body
    return float(m.group(1))


def test_orphan_is_reaped_by_subreaper(run_cli, tmp_path):
    orphan = tmp_path / "orphan.json"
    rp = run_cli(
        "--listen-address",
        "127.0.0.1:0",
        service=["--spawn-orphan", str(orphan), "--orphan-sleep-ms", "200"],
    )
    rp.wait_state(lambda s: s["ready"], what="service ready")
    info = wait_for(lambda: orphan.exists() and json.loads(orphan.read_text()), 10, "orphan ran")
    assert info["ppid"] == rp.pid  # re-parented to run (PR_SET_CHILD_SUBREAPER)
    rp.wait_log('msg="serving metrics"')
    # the orphan exits right after writing its file; run must reap it (within its grace period)
    wait_for(lambda: _metric(rp.log(), "reloader_child_orphans_reaped_total") >= 1, 15, "orphan reaped")
    wait_for(lambda: "Z" not in list_children(rp.pid).values(), 15, "no zombie children of run")
    service_pid = rp.read_state()["pid"]
    assert list_children(rp.pid) == {service_pid: list_children(rp.pid)[service_pid]}
    rp.send(signal.SIGTERM)
    assert rp.wait_exit() == 0


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1)")
def test_zombies_reaped_as_pid1_in_pid_namespace(run_cli, tmp_path):
    orphan = tmp_path / "orphan.json"
    rp = run_cli(
        prefix=["unshare", "--pid", "--fork", "--mount-proc"],
        service=["--spawn-orphan", str(orphan), "--orphan-sleep-ms", "200"],
    )
    st = rp.wait_state(lambda s: s["ready"], what="service ready")
    assert st["ppid"] == 1  # the service's parent is run, which is PID 1 in the namespace
    info = wait_for(lambda: orphan.exists() and json.loads(orphan.read_text()), 10, "orphan ran")
    assert info["ppid"] == 1  # the orphan was re-parented to run (PID 1)
    # rp.pid is unshare; its only child is run (host pid)
    run_pid = wait_for(lambda: next(iter(list_children(rp.pid)), None), 10, "run process")

    def no_zombies() -> bool:
        kids = list_children(run_pid)
        return bool(kids) and "Z" not in kids.values() and len(kids) == 1

    wait_for(no_zombies, 15, "only the live service left under PID 1, no zombie")
    os.kill(run_pid, signal.SIGTERM)
    assert rp.wait_exit() == 0
