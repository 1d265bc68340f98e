"""What `config-reloader watch` says when init mode (``--watch-interval=0``) cannot render."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import childproc

from config_reloader.testing import atomic_replace


def watch(*argv: str) -> subprocess.CompletedProcess[str]:
    return childproc.run(
        [sys.executable, "-m", "config_reloader", "watch", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_init_mode_missing_input_does_not_promise_to_wait_for_it(tmp_path: Path) -> None:
    r = watch(
        f"--config-file={tmp_path / 'missing.yml'}",
        f"--config-envsubst-file={tmp_path / 'out.yml'}",
        "--watch-interval=0",
    )
    said = r.stdout + r.stderr
    assert r.returncode == 1, said
    assert "missing.yml does not exist" in said
    assert "until it is back" not in said  # it exits now; nothing is watched
    assert "exiting" in said and "Traceback" not in said


def test_init_mode_logs_what_the_validate_command_said(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yml"
    atomic_replace(cfg, b"a: 1\n")
    script = "import sys; print('line 3: unknown field frobnicate'); sys.exit(1)"
    r = watch(
        f"--config-file={cfg}",
        f"--config-envsubst-file={tmp_path / 'out.yml'}",
        "--watch-interval=0",
        f"--validate-command={sys.executable} -c {script!r} {{}}",
    )
    said = r.stdout + r.stderr
    assert r.returncode == 1, said
    assert "validate_output=" in said and "unknown field frobnicate" in said
    assert not (tmp_path / "out.yml").exists()


def test_init_mode_missing_watched_dir_does_not_promise_to_pick_it_up(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yml"
    atomic_replace(cfg, b"a: 1\n")
    r = watch(f"--config-file={cfg}", f"--watched-dir={tmp_path / 'rules'}", "--watch-interval=0")
    said = r.stdout + r.stderr
    assert r.returncode == 0, said
    warned = [line for line in said.splitlines() if "watched dir does not exist" in line]
    assert len(warned) == 1, said
    assert "init mode (--watch-interval=0) exits without waiting for it" in warned[0], said
    assert f"dir={tmp_path / 'rules'}" in warned[0], said
    assert "picked up when it appears" not in said
