#!/usr/bin/env python3
"""What the sidecar's memory cgroup peak is made of, in prometheus-operator's slot.

    python bench/slot_memory.py [--files 10000] [--runs 2] [--drop-caches] [--web] [--json OUT]

Runs the sidecar as bench/m_slot.py does (the operator's spec: ``--cpus 0.01 --memory 50m``, a
read-only root, uid 1000, the rule files in 10 dirs, ``--listen-address``; ``--web`` adds a
``--web-config-file`` with TLS + basic auth, scraped once) and samples from the host every
``--interval`` seconds (default 0.1) until the first reload, through the engine's start
(``reloader_watches`` > 0 on /metrics) and ``--tail`` seconds more:

- the container's memory cgroup (cgroup v1, libpod-<cid>): ``memory.usage_in_bytes``,
  ``memory.max_usage_in_bytes``, ``memory.kmem.usage_in_bytes`` /
  ``memory.kmem.max_usage_in_bytes`` (on cgroup v1 the kernel memory is part of the usage),
  ``memory.stat``'s rss (anonymous), cache (page cache), mapped_file;
- the container's processes (``cgroup.procs``): VmRSS, RssAnon, RssFile, VmHWM from
  /proc/PID/status, summed.

After the run (before the container is removed) ``fincore`` counts the resident page cache of
the rule files and of the image's files (the venv, libpython, the C libraries) as mounted by
``podman mount``. With ``--drop-caches`` (root) the host's page cache, dentries and inodes are
dropped before each run: every page and dentry the sidecar touches is then charged to its cgroup
(the worst case); without it, pages already cached by earlier readers (the harness that wrote
the rule files, an earlier container) are charged to them, not to the sidecar.

Prints, per run, the breakdown at the sampled peak and at the end; ``--json`` writes every
sample. Needs root podman (cgroup v1, cgroupfs, deploy/container/containers.conf).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port
from _endpoint import ReloadEndpoint
from m_slot import (
    CGROUP_MEMORY,
    IMAGE,
    QUOTA,
    SECURITY,
    _entry,
    _first_reload,
    _flags,
    _layout,
    _mounts,
    _podman,
    _scrape,
    _wait_watching,
    _web_config,
)

MIB = 2**20
STAT_KEYS = ("rss", "cache", "mapped_file", "shmem", "active_file", "inactive_file")
STATUS_KEYS = ("VmRSS", "RssAnon", "RssFile", "VmHWM")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def _sample(cg: Path, t0: float) -> dict[str, float]:
    """One reading of the cgroup and its processes (bytes; ``t`` seconds since podman run)."""
    s: dict[str, float] = {"t": time.monotonic() - t0}
    for name, key in (
        ("memory.usage_in_bytes", "usage"),
        ("memory.max_usage_in_bytes", "max_usage"),
        ("memory.kmem.usage_in_bytes", "kmem"),
        ("memory.kmem.max_usage_in_bytes", "kmem_max"),
    ):
        v = _read_int(cg / name)
        if v is not None:
            s[key] = v
    with contextlib.suppress(OSError):
        for line in (cg / "memory.stat").read_text().splitlines():
            k, v = line.split()
            if k in STAT_KEYS:
                s[k] = int(v)
    pids: list[int] = []
    with contextlib.suppress(OSError):
        pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
    s["procs"] = len(pids)
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                k, _, rest = line.partition(":")
                if k in STATUS_KEYS:
                    s[k] = s.get(k, 0) + int(rest.split()[0]) * 1024
    return s


def _wait_watching_tls(port: int, ca: str, password: str, deadline: float) -> float:
    """``_wait_watching`` over HTTPS with basic auth (user ``prom``); returns ``time.monotonic()``."""
    ctx = ssl.create_default_context(cafile=ca)
    token = base64.b64encode(f"prom:{password}".encode()).decode()
    while time.monotonic() < deadline:
        body = ""
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
        with contextlib.suppress(OSError):
            conn.request("GET", "/metrics", headers={"Authorization": "Basic " + token})
            body = conn.getresponse().read().decode()
        conn.close()
        for line in body.splitlines():
            if line.startswith("reloader_watches ") and float(line.split()[1]) > 0:
                return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError("the sidecar's engine did not start watching within 300 s")


def _fincore(paths: list[str]) -> int:
    """Resident page-cache bytes of ``paths`` (util-linux fincore, RES column in bytes)."""
    total = 0
    for i in range(0, len(paths), 500):
        r = subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--output", "RES", *paths[i : i + 500]],
            capture_output=True,
            text=True,
        )
        total += sum(int(x) for x in r.stdout.split() if x.isdigit())
    return total


def _image_files(merged: Path) -> dict[str, list[str]]:
    """The image's regular files that a Python start-up maps or reads, grouped."""
    groups: dict[str, list[str]] = {"venv (ours + deps)": [], "python stdlib": [], "shared libraries": []}
    for top, group in (
        ("opt/config-reloader", "venv (ours + deps)"),
        ("usr/lib/python3.11", "python stdlib"),
        ("usr/lib/x86_64-linux-gnu", "shared libraries"),
        ("usr/bin", "shared libraries"),
    ):
        for dirpath, _dirs, files in os.walk(merged / top):
            for f in files:
                p = os.path.join(dirpath, f)
                if os.path.isfile(p) and not os.path.islink(p):
                    groups[group].append(p)
    return groups


def run_once(
    image: str, root: Path, *, web: tuple[list[str], tuple[str, str]] | None, interval: float, tail: float
) -> dict[str, object]:
    samples: list[dict[str, float]] = []
    marks: dict[str, float] = {}
    with ReloadEndpoint() as ep:
        port = free_port()
        mounts, flags = ([], [])
        if web is not None:
            mounts, flags = web[0], ["--web-config-file=/etc/web/web.yml"]
        argv = ["run", "-d", *QUOTA, *SECURITY, "--network", "host", *_mounts(root), *mounts,
                "-e", "POD_NAME=prometheus-k8s-0", "-e", "SHARD=0", *_entry(image), *_flags(root),
                f"--reload-url={ep.reload_url}", f"--listen-address=127.0.0.1:{port}",
                "--delay-interval=0", *flags]  # fmt: skip
        t0 = time.monotonic()
        cid = _podman(*argv).stdout.strip()
        cg = CGROUP_MEMORY / f"libpod-{cid}"
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                samples.append(_sample(cg, t0))
                stop.wait(interval)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        try:
            marks["first_reload"] = _first_reload(ep, cid, t0, t0 + 300)
            if web is None:
                marks["watching"] = _wait_watching(port, deadline=time.monotonic() + 300) - t0
            else:
                _scrape(port, *web[1])  # waits for the status server, which starts with the engine
                marks["scraped"] = time.monotonic() - t0
                marks["watching"] = _wait_watching_tls(port, *web[1], deadline=time.monotonic() + 300) - t0
            time.sleep(tail)  # samples after the engine started; not a measurement of time
            stop.set()
            th.join()
            final = _sample(cg, t0)
            rules = [str(p) for p in (root / "rules").rglob("*.yaml")]
            cache = {"rule files": _fincore(rules)}
            merged = Path(_podman("mount", cid).stdout.strip())
            try:
                for group, paths in _image_files(merged).items():
                    cache[group] = _fincore(paths)
            finally:
                _podman("unmount", cid, check=False)
            oom = _podman("inspect", "--format", "{{.State.OOMKilled}}", cid, check=False).stdout.strip()
        finally:
            stop.set()
            _podman("rm", "-f", "-t", "2", cid, check=False)
    return {"samples": samples, "final": final, "marks": marks, "fincore": cache, "oom": oom == "true"}


def _mib(x: float | None) -> str:
    return "-" if x is None else f"{x / MIB:6.1f}"


def report(label: str, got: dict[str, object]) -> None:
    samples: list[dict[str, float]] = got["samples"]  # type: ignore[assignment]
    final: dict[str, float] = got["final"]  # type: ignore[assignment]
    marks: dict[str, float] = got["marks"]  # type: ignore[assignment]
    fin: dict[str, int] = got["fincore"]  # type: ignore[assignment]
    top = max(samples, key=lambda s: s.get("usage", 0))
    print(f"== {label}: first reload {marks['first_reload']:.1f} s, watching {marks['watching']:.1f} s,"
          f" {len(samples)} samples, OOM-killed: {got['oom']}")  # fmt: skip
    cols = ("usage", "rss", "cache", "mapped_file", "kmem", "RssAnon", "RssFile", "VmHWM")
    print(f"   {'':18}" + "".join(f"{c:>12}" for c in cols) + "   (MiB)")
    for name, s in (("sampled peak", top), ("end", final)):
        print(
            f"   {name + ' t=' + format(s['t'], '.1f'):18}" + "".join(f"{_mib(s.get(c)):>12}" for c in cols)
        )
    print(
        f"   max_usage_in_bytes {_mib(final.get('max_usage'))} MiB,"
        f" kmem max {_mib(final.get('kmem_max'))} MiB"
    )
    print(
        "   resident page cache at the end (fincore): "
        + ", ".join(f"{k} {_mib(v).strip()}" for k, v in fin.items())
    )
    # A coarse timeline: one line per phase boundary.
    for name, t in marks.items():
        near = min(samples, key=lambda s: abs(s["t"] - t))
        print(f"   at {name} t={t:.1f}: " + " ".join(f"{c}={_mib(near.get(c)).strip()}" for c in cols))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--drop-caches", action="store_true", help="drop the host's caches before each run")
    ap.add_argument("--web", action="store_true", help="add --web-config-file (TLS + basic auth)")
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--tail", type=float, default=3.0)
    ap.add_argument("--image", default=IMAGE)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-slot-mem-") as td:
        root = Path(td)
        os.chmod(root, 0o755)
        _layout(root, args.files)
        web = _web_config(root) if args.web else None
        for i in range(args.runs):
            if args.drop_caches:
                os.sync()
                Path("/proc/sys/vm/drop_caches").write_text("3\n")
            got = run_once(args.image, root, web=web, interval=args.interval, tail=args.tail)
            report(
                f"run {i + 1}{' (caches dropped)' if args.drop_caches else ''}{' +TLS+auth' if web else ''}",
                got,
            )
            out.append(got)
    if args.json:
        args.json.write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
