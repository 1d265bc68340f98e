"""The container tests' skip decision (tests/container/podman_helpers.py): they must skip with a
clear reason exactly where podman cannot run a container, found by really trying one. Checked
here with stand-in ``podman`` executables on PATH, so it runs on every machine."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "container"))
podman_cannot_run_containers: Callable[[Path], str | None] = importlib.import_module(
    "podman_helpers"
).podman_cannot_run_containers


def _fake_podman(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "podman"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(0o755)


def _path_with(bin_dir: Path) -> str:
    # Keep the system tools the probe needs (ldd, true) but put the stand-in first.
    return f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"


def test_no_podman_is_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    reason = podman_cannot_run_containers(tmp_path)
    assert reason is not None and "podman is not installed" in reason


def test_runtime_failure_is_a_reason_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    _fake_podman(
        bin_dir,
        'case "$1" in\n'
        "  image) exit 0 ;;\n"  # probe image "exists"
        '  run) echo "runc create failed: error setting rlimit type 7" >&2; exit 126 ;;\n'
        "esac\nexit 0\n",
    )
    monkeypatch.setenv("PATH", _path_with(bin_dir))
    reason = podman_cannot_run_containers(tmp_path)
    assert reason is not None
    assert "cannot run a trivial container" in reason and "rlimit type 7" in reason


def test_working_podman_is_no_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    log = tmp_path / "calls"
    _fake_podman(bin_dir, f'echo "$@" >> {log}\ncase "$1" in\n  image) exit 1 ;;\nesac\nexit 0\n')
    monkeypatch.setenv("PATH", _path_with(bin_dir))
    assert podman_cannot_run_containers(tmp_path) is None
    calls = log.read_text().splitlines()
    # The probe image is made from the host's /bin/true and imported, then really run.
    assert any(c.startswith("import ") for c in calls), calls
    assert any(c.startswith("run --rm --network none") and c.endswith("/bin/true") for c in calls), calls
    assert (tmp_path / "probe.tar").stat().st_size > 0
