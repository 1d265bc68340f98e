#!/usr/bin/env python3
"""Show the polling fallback for real: inotify watch limit too low -> one warning -> still reloads.

    python bench/inotify_limits_demo.py            # inside a user namespace (default, safe)
    python bench/inotify_limits_demo.py --global   # lowers fs.inotify.max_user_watches itself (root)

What it does: makes 6 watched directories (the reloader needs 6 inotify watches), lowers the watch
limit to 3, starts the real ``config-reloader watch`` posting to a local endpoint, prints the
reloader's warning lines (the one naming the sysctl), then replaces a rule file atomically and
shows that the change is still reloaded (via polling), with its latency. Exit status 0 only if
exactly one fallback warning appeared and the change was reloaded with the new content.

Why two modes: the inotify watch limit is a per-user count (ucount). ``fs.inotify.max_user_watches``
is that limit for users of the initial user namespace, i.e. for *every* root process on the host;
lowering it on a shared machine makes every other root process's new watches fail meanwhile. By
default the demo therefore re-runs itself in a new user namespace (``unshare --user
--map-root-user``) and lowers that namespace's own copy of the same limit,
``/proc/sys/user/max_inotify_watches`` (per-namespace since Linux 5.11; the kernel charges watches
to every namespace up the chain, so the same ENOSPC path is taken). ``--global`` does what an
administrator would: ``sysctl -w fs.inotify.max_user_watches=N``, restoring the original value in a
``finally`` (and on SIGINT/SIGTERM), whatever happens.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import atomic_replace, reloader_argv, spawn, stop
from _endpoint import ReloadEndpoint

DIRS = 6
LIMIT_BELOW = 3
GLOBAL_SYSCTL = "/proc/sys/fs/inotify/max_user_watches"
USERNS_SYSCTL = "/proc/sys/user/max_inotify_watches"


def _watches_in_use_by_root() -> int:
    """Inotify watches currently held by uid-0 processes (sum of 'inotify wd:' in fdinfo)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != 0:
                continue
            for fd in os.listdir(f"/proc/{pid}/fdinfo"):
                total += Path(f"/proc/{pid}/fdinfo/{fd}").read_text().count("inotify wd:")
        except OSError:
            continue
    return total


def demo(limit_file: str, limit: int) -> int:
    root = Path(tempfile.mkdtemp(prefix="crbench-limits-"))
    proc = None
    try:
        dirs = []
        for i in range(DIRS):
            d = root / f"rules-{i}"
            d.mkdir()
            (d / "r.yaml").write_text(f"groups: [] # {i}\n")
            dirs.append(str(d))
        target = os.path.join(dirs[-1], "r.yaml")
        print(f"$ echo {limit} > {limit_file}      # reloader needs {DIRS} watches")
        Path(limit_file).write_text(f"{limit}\n")
        with ReloadEndpoint([target]) as ep:
            argv = [
                *reloader_argv(),
                "watch",
                f"--reload-url={ep.reload_url}",
                "--delay-interval=0s",
                *[f"--watched-dir={d}" for d in dirs],
            ]
            print("$ " + " ".join(argv).replace(str(root), "$TMP"))
            log = root / "reloader.log"
            with open(log, "wb") as lf:
                proc = spawn(argv, stdout=lf.fileno(), stderr=lf.fileno())
            if not ep.wait_for(lambda a: len(a) >= 1, 60):
                print("FAIL: no initial reload\n" + log.read_text())
                return 1
            t0 = time.monotonic()
            new = b"groups: [] # changed while polling\n"
            idx = ep.count()
            atomic_replace(target, new)
            ok = ep.wait_for(lambda a: any(x.contents.get(target) == new for x in a[idx:]), 30)
            took = time.monotonic() - t0
            time.sleep(0.5)
            stop(proc)
            proc = None
            text = log.read_text()
        print("--- reloader log (warnings and errors) ---")
        warn_lines = [
            ln
            for ln in text.splitlines()
            if "level=warn" in ln or "level=error" in ln or '"level": "warn' in ln or "Traceback" in ln
        ]
        for ln in warn_lines:
            print(ln.replace(str(root), "$TMP"))
        sysctl_warnings = [ln for ln in warn_lines if "max_user_watches" in ln]
        print("---")
        print(f"warnings naming fs.inotify.max_user_watches: {len(sysctl_warnings)}")
        print(
            f"change reloaded via polling: {'yes' if ok else 'NO'} after {took * 1000:.0f} ms "
            f"(reload requests: {ep.count()})"
        )
        return 0 if ok and len(sysctl_warnings) == 1 else 1
    finally:
        if proc is not None:
            stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--global",
        dest="global_",
        action="store_true",
        help="lower the host's fs.inotify.max_user_watches (root; restored afterwards)",
    )
    ap.add_argument("--in-userns", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.in_userns:
        return demo(USERNS_SYSCTL, LIMIT_BELOW)
    if not args.global_:
        print(
            f"# user namespace mode: limit {USERNS_SYSCTL} of a new namespace "
            f"(host's {GLOBAL_SYSCTL} untouched)"
        )
        return subprocess.call(
            ["unshare", "--user", "--map-root-user", sys.executable, os.path.abspath(__file__), "--in-userns"]
        )
    original = Path(GLOBAL_SYSCTL).read_text().strip()
    in_use = _watches_in_use_by_root()
    limit = in_use + LIMIT_BELOW
    print(f"# global mode: {GLOBAL_SYSCTL} = {original}, root holds {in_use} watches now")

    def restore(*_: object) -> None:
        Path(GLOBAL_SYSCTL).write_text(original + "\n")

    def on_signal(signum: int, _frame: object) -> None:
        restore()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return demo(GLOBAL_SYSCTL, limit)
    finally:
        restore()
        print(f"# restored {GLOBAL_SYSCTL} = {Path(GLOBAL_SYSCTL).read_text().strip()}")


if __name__ == "__main__":
    sys.exit(main())
