"""`config-reloader watch` as a process with the reload-client flags: credential files checked at
start, --reload-command run on each change with its output logged and masked, flags that do not
go together refused with one line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import childproc
import pytest

from config_reloader.testing import atomic_replace


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return childproc.run(
        [sys.executable, "-m", "config_reloader", "watch", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--reload-basic-auth-username=u", "--reload-basic-auth-password-file={missing}"], "cannot read"),
        (["--reload-bearer-token-file={empty}"], "is empty"),
        (["--reload-basic-auth-username=u"], "--reload-basic-auth-password-file"),
        (["--reload-tls-cert-file={empty}"], "--reload-tls-key-file"),
        (
            ["--reload-tls-ca-file={empty}", "--reload-url=https://127.0.0.1:1/-/reload"],
            "--reload-tls-ca-file",
        ),
        (["--reload-tls-insecure-skip-verify=maybe"], "not a boolean"),
        (["--reload-method=command"], "needs --reload-command"),
        (["--reload-command=true", "--reload-method=signal"], "exclude each other"),
        (["--reload-url=http://127.0.0.1:1/a", "--reload-url=http://127.0.0.1:1/a"], "given twice"),
        (
            [
                "--reload-url=http://127.0.0.1:1/a",
                "--reload-url=http://127.0.0.1:1/b",
                "--reload-method=signal",
            ],
            "several",
        ),
        (["--reload-url=http://u:pw@127.0.0.1:1/", "--reload-bearer-token-file={token}"], "credentials"),
    ],
)
def test_refused_at_start_with_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    cfg = tmp_path / "c.yml"
    atomic_replace(cfg, b"x")
    (tmp_path / "empty").write_text("")
    (tmp_path / "token").write_text("tok")
    paths = {
        "missing": str(tmp_path / "missing"),
        "empty": str(tmp_path / "empty"),
        "token": str(tmp_path / "token"),
    }
    r = cli(f"--config-file={cfg}", *(f.format(**paths) for f in flags))
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert "pw" not in r.stderr.replace("password", "")


def test_reload_command_runs_on_each_change_output_logged_masked(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    out = tmp_path / "out.yml"
    atomic_replace(cfg, b"v1")
    token = tmp_path / "token"
    token.write_text("tok-s3cret\n")
    marker = tmp_path / "reloads"
    script = f'cat "$1" >> {marker}; echo; echo "reloaded $1 with tok-s3cret via http://u:pw@h/x?k=v"'
    log = tmp_path / "watch.log"
    with log.open("wb") as f:
        proc = childproc.popen(
            [
                sys.executable, "-m", "config_reloader", "watch", f"--config-file={cfg}",
                f"--config-envsubst-file={out}", "--delay-interval=0",
                f"--reload-command=sh -c '{script}' sh {{}}", f"--reload-bearer-token-file={token}",
            ],
            stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text() == "v1"):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        atomic_replace(cfg, b"v2")
        while marker.read_text() != "v1v2":
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(15)
    text = log.read_text()
    assert proc.returncode == 0, text
    lines = [ln for ln in text.splitlines() if "reload command succeeded" in ln]
    assert len(lines) == 2, text
    assert f"reloaded {out}" in lines[0]
    assert "tok-s3cret" not in text and "u:pw@" not in text and "k=v" not in text
    assert "method=command" in text


def test_failing_reload_command_is_retried_and_named(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    r = childproc.popen(
        [sys.executable, "-m", "config_reloader", "watch", f"--config-file={cfg}", "--delay-interval=0",
         "--retry-interval=50ms", "--reload-command=sh -c 'echo nope >&2; exit 3'"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert r.stdout is not None
        line = ""
        while "reload failed, retrying" not in line:
            line = r.stdout.readline()  # the test's timeout bounds this
            assert line, "watch exited"
    finally:
        r.terminate()
        r.wait(15)
    assert "exited with status 3: nope" in line
