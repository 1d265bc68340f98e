"""Our psABI levels (usable view) agree with glibc's `ld.so --help` verdict on this machine."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from pathlib import Path

import childproc
import pytest

from config_reloader.cpu import probe_machine

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 psABI levels"),
]

LDSO = Path("/lib64/ld-linux-x86-64.so.2")


def glibc_levels(env: dict[str, str] | None = None) -> set[str]:
    """Levels glibc marks "(supported, searched)" under glibc-hwcaps (glibc >= 2.33)."""
    if not LDSO.exists():
        pytest.skip(f"{LDSO} missing")
    proc = childproc.run(
        [str(LDSO), "--help"], capture_output=True, text=True, timeout=30, env=env, check=False
    )
    text = proc.stdout
    if "glibc-hwcaps" not in text:
        pytest.skip("this glibc prints no glibc-hwcaps levels (< 2.33)")
    found = set(re.findall(r"^\s+(x86-64-v[234]) \(supported, searched\)", text, re.M))
    return found


def test_usable_levels_match_glibc() -> None:
    m = probe_machine()
    cur = m.current_cpu
    f = m.cpus.get(cur) if cur is not None else None
    f = f or next(x for x in m.cpus.values() if x is not None)
    ours = {lvl for lvl in f.levels if lvl != "x86-64-v1"}
    assert ours == glibc_levels(), (m.backend, sorted(f.levels))


def test_glibc_tunable_masking_avx512f_drops_v4_in_both() -> None:
    env = {**os.environ, "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"}
    theirs = glibc_levels(env)
    code = (
        "import json; from config_reloader.cpu import probe_machine; "
        "m = probe_machine(backend='glibc'); "
        "print(json.dumps(sorted(next(f for f in m.cpus.values() if f).levels)))"
    )
    proc = childproc.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    ours = set(json.loads(proc.stdout)) - {"x86-64-v1"}
    assert ours == theirs
    assert "x86-64-v4" not in ours
