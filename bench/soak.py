#!/usr/bin/env python3
"""Soak: random changes for a long time against the real CLI with a flapping reload target.

    python bench/soak.py                 # 10 minutes
    python bench/soak.py --minutes 1

The reloader is ``config-reloader watch`` with a config file rendered to an output, a rule dir
and a kubelet-managed dir, posting to a local endpoint whose behaviour flaps every few seconds
between healthy, failing (500), slow (answers within the reload timeout) and hanging (answers
after it). The driver makes random bursts of changes (atomic replace, in-place write, delete,
create, touch, chmod, kubelet update), and every few bursts takes a checkpoint: target made
healthy, then the last successful reload must carry exactly the files on disk within 75 s (the
backoff between failed attempts is capped at 1 min), else the checkpoint counts as a *missed final
state* (must be 0); checkpoints that needed more than 30 s are counted separately. Every reload's
output file must be a complete version of the config (partial = must be 0).

Reports RSS (MiB), open fds and threads of the reloader at start and end (asyncio tasks are not
visible from outside the process; threads and fds are what leaks show as), reloads, failures,
checkpoints, missed final states; writes bench/out/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, atomic_replace, kubelet_writer, write_in_place
from _endpoint import ReloadEndpoint
from _ours import OurReloader

MODES = ("ok", "ok", "fail", "slow", "hang")
CHECKPOINT_TIMEOUT = 75.0  # seconds: backoff cap (1 min) + reload timeout + margin


class Flapper:
    """Endpoint behaviour: a mode switched at random every 1-5 s by a background thread."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mode = "ok"
        self.pinned = False
        self.stop = threading.Event()

    def __call__(self, n: int) -> tuple[str, float]:
        mode = self.mode
        return mode, {"slow": 0.2, "hang": 1.5}.get(mode, 0.0)

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(1, 5)):
            if not self.pinned:
                self.mode = self.rng.choice(MODES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="duration in minutes (default 10)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="crbench-soak-"))
    conf, out, rules, cm = root / "conf", root / "out", root / "rules", root / "cm"
    for d in (conf, out, rules, cm):
        d.mkdir()
    cfg, out_file = str(conf / "app.yaml"), str(out / "app.yaml")
    cfg_versions: set[bytes] = set()
    counter = 0

    def content(tag: str) -> bytes:
        nonlocal counter
        counter += 1
        return f"# {tag} {counter}\n".encode() + b"x: 1\n" * rng.randint(1, 200)

    first = content("cfg")
    cfg_versions.add(first)
    atomic_replace(cfg, first)
    for i in range(5):
        atomic_replace(str(rules / f"r{i}.yaml"), content("rule"))
    kw, _impl = kubelet_writer(str(cm))
    kw.write({"a.yaml": content("cm")})  # type: ignore[attr-defined]

    flapper = Flapper(rng)
    result: dict[str, object] = {"seed": seed, "minutes": args.minutes}
    with ReloadEndpoint([out_file, str(rules), str(cm)], behaviour=flapper) as ep:
        r = OurReloader(
            [str(rules), str(cm)],
            ep,
            delay=0.1,
            config_file=cfg,
            extra=[f"--config-envsubst-file={out_file}", "--reload-timeout=1s"],
        )
        try:
            r.start()
            time.sleep(1.0)
            s0 = r.stats()
            threading.Thread(target=flapper.run, daemon=True).start()
            deadline = time.monotonic() + args.minutes * 60
            bursts = checkpoints = missed = changes = late = 0
            waits: list[float] = []
            while time.monotonic() < deadline:
                bursts += 1
                for _ in range(rng.randint(1, 20)):
                    changes += 1
                    op = rng.random()
                    name = str(rules / f"r{rng.randrange(8)}.yaml")
                    if op < 0.2:
                        data = content("cfg")
                        cfg_versions.add(data)
                        atomic_replace(cfg, data)
                    elif op < 0.35:
                        data = content("cfg")
                        cfg_versions.add(data)
                        write_in_place(cfg, data, chunks=rng.randint(1, 4), pause=rng.choice([0, 0.002]))
                    elif op < 0.5:
                        atomic_replace(name, content("rule"))
                    elif op < 0.6:
                        write_in_place(name, content("rule"), chunks=rng.randint(1, 3))
                    elif op < 0.7:
                        if os.path.exists(name):
                            os.unlink(name)
                    elif op < 0.8:
                        os.utime(cfg)
                        if os.path.exists(name):
                            os.chmod(name, rng.choice([0o600, 0o644]))
                    else:
                        keys = rng.sample(["a.yaml", "b.yaml", "c.yaml"], rng.randint(1, 3))
                        kw.write({k: content("cm") for k in keys})  # type: ignore[attr-defined]
                    if rng.random() < 0.3:
                        time.sleep(rng.choice([0.001, 0.01, 0.05, 0.2]))
                time.sleep(rng.uniform(0, 0.5))
                if bursts % 5 == 0:
                    checkpoints += 1
                    flapper.pinned, flapper.mode = True, "ok"
                    want = ep._read()
                    want[out_file] = Path(cfg).read_bytes()  # what the reloader must render
                    t0 = time.monotonic()
                    # The backoff between failed attempts is capped at 1 minute (--retry-interval
                    # doubles up to 1m), so a healthy target may legitimately wait that long.
                    ok = ep.wait_for(lambda a, want=want: _last_ok(a) == want, CHECKPOINT_TIMEOUT)
                    took = time.monotonic() - t0
                    waits.append(took)
                    if not ok:
                        missed += 1
                        last = _last_ok(ep.snapshot()) or {}
                        diff = sorted(
                            os.path.relpath(k, root)
                            for k in set(want) | set(last)  # type: ignore[arg-type]
                            if want.get(k) != last.get(k)
                        )  # type: ignore[union-attr]
                        print(f"MISSED final state at checkpoint {checkpoints}: differing {diff}", flush=True)
                    elif took > 30:
                        late += 1
                    flapper.pinned = False
            flapper.stop.set()
            time.sleep(0.5)
            s1 = r.stats()
            hwm = _vm_hwm(r.pid)
            log_tail = r.log_tail(600)
        finally:
            flapper.stop.set()
            r.close()
        arrivals = ep.snapshot()
    partial = sum(1 for a in arrivals if a.contents.get(out_file) not in cfg_versions)
    result.update(
        {
            "bursts": bursts,
            "changes": changes,
            "checkpoints": checkpoints,
            "missed_final_states": missed,
            "checkpoints_over_30s": late,
            "checkpoint_wait_s_median": round(sorted(waits)[len(waits) // 2], 3) if waits else None,
            "checkpoint_wait_s_max": round(max(waits), 3) if waits else None,
            "reload_requests": len(arrivals),
            "failed_or_hung": sum(1 for a in arrivals if a.status != 200),
            "partial_config_reloads": partial,
            "start": {
                "rss_mib": round(s0.rss_mib, 1),
                "fds": s0.fds,
                "threads": s0.threads,
                "cpu_s": round(s0.cpu_s, 2),
            },
            "end": {
                "rss_mib": round(s1.rss_mib, 1),
                "fds": s1.fds,
                "threads": s1.threads,
                "cpu_s": round(s1.cpu_s, 2),
            },
            "peak_rss_mib": round(hwm, 1),
        }
    )
    shutil.rmtree(root, ignore_errors=True)
    (BENCH_DIR / "out").mkdir(exist_ok=True)
    (BENCH_DIR / "out" / "soak.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    if missed or partial:
        print("reloader log tail:\n" + log_tail)
    return 1 if missed or partial else 0


def _last_ok(arrivals: list) -> object:  # type: ignore[type-arg]
    for a in reversed(arrivals):
        if a.status == 200:
            return a.contents
    return None


def _vm_hwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    sys.exit(main())
