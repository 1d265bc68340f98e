"""probe_writers: a read lease tells whether anyone has a file open for writing (real files,
real processes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import childproc
import pytest

from config_reloader.fileid import file_identity
from config_reloader.watch.lease import probe_writers


def ident(path: Path) -> tuple[int, int, int, int, int]:
    return file_identity(os.stat(path))


def test_a_file_nobody_writes_is_vouched_for(tmp_path: Path) -> None:
    f = tmp_path / "a.yml"
    f.write_bytes(b"v1\n")
    assert probe_writers(str(f), ident(f)) is True


def test_a_file_open_for_writing_in_another_process_is_not(tmp_path: Path) -> None:
    f = tmp_path / "a.yml"
    f.write_bytes(b"v1\n")
    # The writer truncates, says so, and keeps the file open until its stdin closes.
    code = (
        "import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)\n"
        "print('open', flush=True)\nsys.stdin.read()\nos.close(fd)\n"
    )
    with childproc.popen(
        [sys.executable, "-c", code, str(f)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as writer:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline() == b"open\n"
        assert f.read_bytes() == b""  # what a reader sees: an empty file, perhaps no event yet
        assert probe_writers(str(f), ident(f)) is False
        writer.stdin.close()
        assert writer.wait(30) == 0
    assert probe_writers(str(f), ident(f)) is True  # closed: the empty file is what it left


def test_a_file_open_for_writing_in_this_process_is_not(tmp_path: Path) -> None:
    f = tmp_path / "a.yml"
    f.write_bytes(b"v1\n")
    with open(f, "r+b"):
        assert probe_writers(str(f), ident(f)) is False


def test_another_identity_or_a_missing_file_is_not(tmp_path: Path) -> None:
    f = tmp_path / "a.yml"
    f.write_bytes(b"v1\n")
    before = ident(f)
    f.write_bytes(b"v22\n")
    assert probe_writers(str(f), before) is False
    assert probe_writers(str(tmp_path / "gone.yml"), before) is False


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_without_the_right_to_lease_the_answer_is_unknown() -> None:
    """Not the file's owner and no CAP_LEASE (a non-root sidecar reading root-owned ConfigMap
    files): None, so the caller keeps waiting for lagging events instead."""
    d = Path(tempfile.mkdtemp(prefix="cr-lease-", dir="/tmp"))  # pytest's tmp is root-only
    d.chmod(0o755)
    f = d / "a.yml"
    f.write_bytes(b"v1\n")
    f.chmod(0o644)
    # A forked child (not a new interpreter: the venv may sit where that user cannot reach).
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(w, repr(probe_writers(str(f), ident(f))).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    shutil.rmtree(d)
    assert answer == "None"
