"""`config-reloader demo` runs the real reloader end to end and exits 0 within seconds."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import childproc

from config_reloader.demo import run_demo


async def test_demo_engine_steps(tmp_path: Path) -> None:
    out = io.StringIO()
    steps = await run_demo(out, workdir=str(tmp_path))
    names = [s.name for s in steps]
    assert names == [
        "initial",
        "atomic rename",
        "in-place write",
        "kubelet swap",
        "template change",
        "identical rewrite",
    ]
    assert [s.reloaded for s in steps] == [True] * 5 + [False]
    saw = {s.name: s.saw for s in steps}
    assert saw["initial"] == "cluster: demo"
    assert saw["atomic rename"] == "for: 10m"
    assert saw["in-place write"] == "severity: critical"  # never a partial file
    assert saw["kubelet swap"] == "- name: from-configmap-v2"
    assert saw["template change"] == "cluster: demo-eu"
    assert all(s.latency_ms is not None and s.latency_ms >= 0 for s in steps[1:5])
    assert "no reload: same content" in out.getvalue()


def test_demo_cli_exits_0() -> None:
    res = childproc.run([sys.executable, "-m", "config_reloader", "demo"], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    text = res.stdout.decode()
    assert "reload #5" in text and "identical rewrite" in text and "ms" in text
