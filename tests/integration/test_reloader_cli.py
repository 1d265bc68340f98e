"""The real `config-reloader watch` CLI as a subprocess against a RecordingEndpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import childproc
import pytest

from config_reloader.testing import RecordingEndpoint, atomic_replace, wait_until

INTERPRETER = os.path.realpath(sys.executable)


def hups(marker: Path) -> int:
    try:
        return marker.read_text().count("hup")
    except FileNotFoundError:
        return 0


async def start_cli(*argv: str) -> asyncio.subprocess.Process:
    return await childproc.exec_async(
        sys.executable,
        "-m",
        "config_reloader",
        "watch",
        *argv,
        # Logs go to stdout (every level, as prometheus-config-reloader), flag errors to stderr:
        # the tests read both, merged.
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def sigterm_and_wait(proc: asyncio.subprocess.Process) -> tuple[float, bytes]:
    """Send SIGTERM and wait (10 s deadline) for the exit: (seconds it took, remaining stderr)."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        err, _ = await proc.communicate()
    return time.monotonic() - t0, err


async def kill_if_running(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def test_init_mode_renders_and_exits_0_without_request(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yml"
    out = tmp_path / "out.yml"
    atomic_replace(cfg, b"pod: $(POD_NAME) n: $(STATEFULSET_ORDINAL_NUMBER)\n")
    async with RecordingEndpoint([str(out)]) as ep:
        proc = await childproc.exec_async(
            sys.executable,
            "-m",
            "config_reloader",
            "watch",
            f"--config-file={cfg}",
            f"--config-envsubst-file={out}",
            "--watch-interval=0",
            f"--reload-url={ep.reload_url}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "POD_NAME": "prometheus-k8s-2"},
        )
        async with asyncio.timeout(30):
            err, _ = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert out.read_bytes() == b"pod: prometheus-k8s-2 n: 2\n"
        assert ep.reloads == []


async def test_init_mode_exits_1_when_input_is_missing(tmp_path: Path) -> None:
    proc = await start_cli(
        f"--config-file={tmp_path / 'missing.yml'}",
        f"--config-envsubst-file={tmp_path / 'out.yml'}",
        "--watch-interval=0",
    )
    async with asyncio.timeout(30):
        err, _ = await proc.communicate()
    assert proc.returncode == 1
    assert b"missing.yml" in err
    assert not (tmp_path / "out.yml").exists()


async def test_sigterm_exits_0_quickly_after_reloading(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    async with RecordingEndpoint([str(cfg)]) as ep:
        proc = await start_cli(
            f"--config-file={cfg}",
            f"--reload-url={ep.reload_url}",
            "--delay-interval=0",
            "--log-format=json",
            "--listen-address=127.0.0.1:0",
        )
        try:
            await ep.wait_for(lambda: len(ep.successful) == 1, timeout=30)
            atomic_replace(cfg, b"v2")
            await ep.wait_for(lambda: len(ep.successful) == 2, timeout=15)
            assert ep.successful[-1].contents[str(cfg)] == b"v2"
            elapsed, err = await sigterm_and_wait(proc)
        finally:
            await kill_if_running(proc)
        assert proc.returncode == 0, err.decode()
        assert elapsed < 2.0, elapsed
        assert b'"msg": "reload triggered"' in err
        assert b"received signal, exiting" in err


async def test_sigterm_while_retrying_a_down_target_exits_0_quickly(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    ep = RecordingEndpoint([str(cfg)])
    await ep.start()
    await ep.down()  # nothing listens: every attempt fails, backoff in progress
    try:
        proc = await start_cli(
            f"--config-file={cfg}",
            f"--reload-url={ep.reload_url}",
            "--delay-interval=0",
            "--retry-interval=100ms",
        )
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                while b"reload failed, retrying" not in await proc.stdout.readline():
                    pass
            elapsed, _ = await sigterm_and_wait(proc)
        finally:
            await kill_if_running(proc)
        assert proc.returncode == 0
        assert elapsed < 2.0, elapsed
    finally:
        await ep.stop()


async def test_signal_mode_by_process_executable_name(tmp_path: Path) -> None:
    """--reload-method=signal --process-executable-name: the target is found by its name (a
    uniquely named link to the interpreter, so no other process on the machine matches)."""
    import secrets

    name = "crt-" + secrets.token_hex(4)
    exe = tmp_path / name
    exe.symlink_to(INTERPRETER)
    marker = tmp_path / "hups"
    ready = tmp_path / "ready"
    script = (
        "import signal, sys, time\n"
        f"def hup(*a):\n    open({str(marker)!r}, 'a').write('hup\\n')\n"
        "signal.signal(signal.SIGHUP, hup)\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "while True: time.sleep(0.05)\n"
    )
    target = await childproc.exec_async(str(exe), "-c", script)
    cfg = tmp_path / "app.conf"
    atomic_replace(cfg, b"v1")
    try:
        await wait_until(ready.exists, timeout=20)
        proc = await start_cli(
            f"--config-file={cfg}",
            "--reload-method=signal",
            f"--process-executable-name={name}",
            "--runtimeinfo-url=",
            "--delay-interval=0",
            "--retry-interval=100ms",
        )
        try:
            await wait_until(lambda: hups(marker) >= 1, timeout=30)
            atomic_replace(cfg, b"v2")
            await wait_until(lambda: hups(marker) >= 2, timeout=30)
            _, err = await sigterm_and_wait(proc)
            assert proc.returncode == 0, err.decode()
        finally:
            await kill_if_running(proc)
        assert target.returncode is None  # alive: it handled both SIGHUPs
        assert hups(marker) == 2
    finally:
        target.kill()
        await target.wait()


async def _read_port(proc: asyncio.subprocess.Process, lines: list[bytes]) -> int:
    """Port of the status server, from the JSON log line "status server listening"."""
    import json

    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = await proc.stdout.readline()
            assert line, b"".join(lines).decode()
            lines.append(line)
            if b"status server listening" in line:
                return int(json.loads(line)["port"])


async def test_drop_in_flags_healthz_and_process_metrics_without_created(tmp_path: Path) -> None:
    """prometheus-config-reloader's flags are accepted (--log-level=all, --auto-gomemlimit-ratio,
    a settings-free --web-config-file); /healthz answers like it; /metrics has process_* series and
    no *_created series (like Thanos); SIGTERM exits 0 within 2 s."""
    import aiohttp

    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    web = tmp_path / "web.yml"
    web.write_text("# no TLS, no basic auth\n")
    async with RecordingEndpoint([str(cfg)]) as ep:
        proc = await start_cli(
            f"--config-file={cfg}",
            f"--reload-url={ep.reload_url}",
            "--log-format=json",
            "--log-level=all",
            "--auto-gomemlimit-ratio=0.9",
            f"--web-config-file={web}",
            "--listen-address=127.0.0.1:0",
        )
        lines: list[bytes] = []
        try:
            port = await _read_port(proc, lines)
            await ep.wait_for(lambda: len(ep.successful) == 1, timeout=30)
            async with aiohttp.ClientSession() as s:
                async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"].startswith("application/json")
                    assert await r.read() == b'{"status":"up"}\n'

                async def metrics() -> str:
                    async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                        return await r.text()

                # The endpoint records the reload before our client has read the answer and
                # counted it: wait for the counter rather than race it.
                async def counted() -> bool:
                    return "reloader_reloads_total 1.0" in await metrics()

                await wait_until(counted, timeout=30)
                text = await metrics()
            assert "process_cpu_seconds_total" in text and "process_resident_memory_bytes" in text
            assert "_created" not in text
            elapsed, err = await sigterm_and_wait(proc)
        finally:
            await kill_if_running(proc)
        assert proc.returncode == 0, (b"".join(lines) + err).decode()
        assert elapsed < 2.0, elapsed
        assert b'"level": "debug"' in b"".join(lines) + err  # --log-level=all = debug


async def test_web_config_with_missing_certificate_is_refused_at_start(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: /x.crt\n  key_file: /x.key\n")
    async with RecordingEndpoint([str(cfg)]) as ep:
        proc = await start_cli(
            f"--config-file={cfg}", f"--reload-url={ep.reload_url}", f"--web-config-file={web}"
        )
        async with asyncio.timeout(30):
            err, _ = await proc.communicate()
        assert proc.returncode == 2
        assert b"web config" in err and b"cannot load the server certificate" in err
        assert ep.reloads == []


# --- flags refused or warned about at start (watch and run share them) --------------------------
def cli_run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``config-reloader ARGV`` as a process; ``run`` gets ``-- true`` appended."""
    tail = ["--", "true"] if argv[0] == "run" else []
    r = childproc.run(
        [sys.executable, "-m", "config_reloader", *argv, *tail],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # logs on stdout, flag errors on stderr: both, in order
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )
    r.stderr = r.stdout
    return r


@pytest.mark.parametrize("cmd", ["watch", "run"])
@pytest.mark.parametrize("how", ["same-path", "symlink", "hardlink", "relative"])
def test_output_that_is_the_template_is_refused(tmp_path: Path, cmd: str, how: str) -> None:
    cfg = tmp_path / "same.yml"
    atomic_replace(cfg, b"pod: $(POD_NAME)\n")
    out = {
        "same-path": cfg,
        "symlink": tmp_path / "link.yml",
        "hardlink": tmp_path / "hard.yml",
        "relative": Path("same.yml"),
    }[how]
    if how == "symlink":
        out.symlink_to(cfg)
    elif how == "hardlink":
        os.link(cfg, out)
    r = cli_run(
        cmd, f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0", cwd=tmp_path
    )
    assert r.returncode == 2, r.stderr
    assert "--config-file" in r.stderr and "--config-envsubst-file" in r.stderr
    assert "same file" in r.stderr
    assert cfg.read_bytes() == b"pod: $(POD_NAME)\n"  # the template is untouched


@pytest.mark.parametrize("cmd", ["watch", "run"])
@pytest.mark.parametrize(
    "flag",
    [
        "--reload-url=notaurl",
        "--runtimeinfo-url=localhost:9090",
        "--listen-address=256.1.1.1:80",
        "--listen-address=localhost",
        "--listen-address=:65536",
    ],
)
def test_bad_flag_values_exit_2_naming_the_flag(tmp_path: Path, cmd: str, flag: str) -> None:
    cfg = tmp_path / "in.yml"
    atomic_replace(cfg, b"a: 1\n")
    r = cli_run(cmd, f"--config-file={cfg}", flag)
    assert r.returncode == 2, r.stderr
    assert f"argument {flag.split('=')[0]}:" in r.stderr
    assert "Traceback" not in r.stderr


def test_empty_runtimeinfo_url_is_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yml"
    atomic_replace(cfg, b"a: 1\n")
    r = cli_run(
        "watch",
        f"--config-file={cfg}",
        f"--config-envsubst-file={tmp_path / 'o.yml'}",
        "--runtimeinfo-url=",
        "--watch-interval=0",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.yml").read_bytes() == b"a: 1\n"


@pytest.mark.parametrize("cmd", ["watch", "run"])
def test_listen_address_in_use_exits_1_naming_the_flag(tmp_path: Path, cmd: str) -> None:
    cfg = tmp_path / "in.yml"
    atomic_replace(cfg, b"a: 1\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        r = cli_run(
            cmd, f"--config-file={cfg}", f"--listen-address={addr}", "--reload-url=http://127.0.0.1:1/"
        )
    assert r.returncode == 1, r.stderr
    assert "cannot listen on --listen-address" in r.stderr
    assert addr in r.stderr


@pytest.mark.parametrize("cmd", ["watch", "run"])
def test_missing_watched_dir_is_accepted_with_one_warning(tmp_path: Path, cmd: str) -> None:
    cfg = tmp_path / "in.yml"
    atomic_replace(cfg, b"a: 1\n")
    missing = tmp_path / "rules"
    extra = ["--watch-interval=0", f"--config-envsubst-file={tmp_path / 'o.yml'}"] if cmd == "watch" else []
    r = cli_run(cmd, f"--config-file={cfg}", f"--watched-dir={missing}", *extra)
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if "watched dir does not exist" in ln]
    assert len(warnings) == 1, r.stderr
    assert "level=warn" in warnings[0] and str(missing) in warnings[0]
    missing.mkdir()
    r = cli_run(cmd, f"--config-file={cfg}", f"--watched-dir={missing}", *extra)
    assert r.returncode == 0, r.stderr
    assert "watched dir does not exist" not in r.stderr


@pytest.mark.parametrize("cmd", ["watch", "run"])
def test_regular_file_as_watched_dir_exits_2(tmp_path: Path, cmd: str) -> None:
    cfg = tmp_path / "in.yml"
    atomic_replace(cfg, b"a: 1\n")
    r = cli_run(cmd, f"--config-file={cfg}", f"--watched-dir={cfg}", "--watch-interval=0")
    assert r.returncode == 2, r.stderr
    assert f"--watched-dir '{cfg}' is not a directory" in r.stderr


# --- secrets in URLs never reach the logs ---------------------------------------------------------
async def _stderr_until(proc: asyncio.subprocess.Process, needle: bytes, lines: list[bytes]) -> None:
    """Read ``proc``'s stderr into ``lines`` until a line holds ``needle`` (30 s deadline)."""
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = await proc.stdout.readline()
            assert line, b"".join(lines).decode()
            lines.append(line)
            if needle in line:
                return


@pytest.mark.parametrize("target", ["closed-port", "rejecting-then-up", "runtimeinfo-closed-port"])
async def test_query_token_in_urls_never_reaches_the_logs(tmp_path: Path, target: str) -> None:
    """``?token=s3cret`` in --reload-url / --runtimeinfo-url: every log line (debug included)
    that names the URL shows ``token=***``; ``s3cret`` is in neither stderr nor stdout."""
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    ep = RecordingEndpoint([str(cfg)], fail=lambda n: n == 1)
    await ep.start()
    try:
        common = ("--delay-interval=0", "--retry-interval=100ms", "--log-level=debug", f"--config-file={cfg}")
        if target == "runtimeinfo-closed-port":
            await ep.down()
            argv = (
                "--reload-method=signal",
                "--process-executable-name=crt-no-such-process",
                f"--runtimeinfo-url={ep.runtimeinfo_url}?token=s3cret",
            )
        else:
            if target == "closed-port":
                await ep.down()
            argv = (f"--reload-url={ep.reload_url}?token=s3cret&org=a",)
        proc = await start_cli(*common, *argv)
        lines: list[bytes] = []
        try:
            # the first (failed) attempt names the URL in its error
            await _stderr_until(proc, b"reload failed, retrying", lines)
            if target == "rejecting-then-up":
                await ep.wait_for(lambda: len(ep.successful) == 1, timeout=30)
                await _stderr_until(proc, b"reload accepted", lines)  # debug line with url=
            _, err = await sigterm_and_wait(proc)
            assert proc.stdout is not None
            out = await proc.stdout.read()
        finally:
            await kill_if_running(proc)
    finally:
        await ep.stop()
    text = b"".join(lines) + err + out
    assert proc.returncode == 0, text.decode()
    assert b"s3cret" not in text
    assert b"token=***" in text  # the URL was logged, masked
    if target == "rejecting-then-up":
        assert b"org=***" in text


# --- symlink loops appearing while watching ---------------------------------------------------------
async def start_cli_logging_to(log: Path, *argv: str) -> asyncio.subprocess.Process:
    """``config-reloader watch ARGV --log-level=debug`` with stderr and stdout in ``log`` (a file:
    debug output never fills a pipe nobody reads, and the test can wait for a line in it)."""
    with log.open("wb") as f:
        return await childproc.exec_async(
            sys.executable, "-m", "config_reloader", "watch", *argv, "--log-level=debug", stdout=f, stderr=f
        )


def log_lines(log: Path, needle: str) -> list[str]:
    return [ln for ln in log.read_text().splitlines() if needle in ln]


@pytest.mark.parametrize("loop", ["self", "pair"])
async def test_symlink_loop_in_a_watched_dir_is_skipped_not_an_apply_error(tmp_path: Path, loop: str) -> None:
    """``ln -s loop loop`` (or x -> y -> x) created in a watched dir while running, together with a
    real change: the change is reloaded, the loop is skipped (debug line naming it) like a dangling
    link, no apply error; after removing it, changes still reload."""
    cfg = tmp_path / "prometheus.yml"
    rules = tmp_path / "rules"
    rules.mkdir()
    atomic_replace(cfg, b"v1")
    atomic_replace(rules / "a.yml", b"a1")
    log = tmp_path / "reloader.log"
    # the endpoint reads the one file, not the dir: its reader would trip on the loop itself
    async with RecordingEndpoint([str(cfg), str(rules / "a.yml")]) as ep:
        proc = await start_cli_logging_to(
            log,
            f"--config-file={cfg}",
            f"--watched-dir={rules}",
            f"--reload-url={ep.reload_url}",
            "--delay-interval=0",
        )
        try:
            await ep.wait_for(lambda: len(ep.successful) == 1, timeout=30)
            links = [rules / "loop"] if loop == "self" else [rules / "x", rules / "y"]
            if loop == "self":
                links[0].symlink_to("loop")
            else:
                links[0].symlink_to("y")
                links[1].symlink_to("x")
            atomic_replace(rules / "a.yml", b"a2")
            await ep.wait_for(
                lambda: ep.successful[-1].contents.get(str(rules / "a.yml")) == b"a2", timeout=30
            )
            await wait_until(lambda: len(log_lines(log, "skipping symlink loop")) > 0, timeout=10)
            for p in links:
                p.unlink()
            atomic_replace(rules / "a.yml", b"a3")
            await ep.wait_for(
                lambda: ep.successful[-1].contents.get(str(rules / "a.yml")) == b"a3", timeout=30
            )
            _, _ = await sigterm_and_wait(proc)
        finally:
            await kill_if_running(proc)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "apply failed" not in text and "Errno" not in text, text
    assert {str(p) for p in links} >= {
        ln.split("cfg_path=")[1].split()[0] for ln in log_lines(log, "skipping symlink loop")
    }
    assert [r.status for r in ep.reloads] == [200] * len(ep.reloads)


async def _start_rendering(
    log: Path, cfg: Path, out: Path, ep: RecordingEndpoint
) -> asyncio.subprocess.Process:
    """``watch`` rendering ``cfg`` to ``out`` and reloading ``ep`` at once, logging to ``log``."""
    return await start_cli_logging_to(
        log,
        f"--config-file={cfg}",
        f"--config-envsubst-file={out}",
        f"--reload-url={ep.reload_url}",
        "--delay-interval=0",
    )


async def _config_file_loop_then_fixed(tmp_path: Path) -> tuple[str, list[str]]:
    """Replace --config-file (rendered to an output) by a self-referencing symlink while running,
    then by a real file again. Returns the whole log and its "apply failed:" (error) lines."""
    cfg = tmp_path / "prometheus.yml"
    out = tmp_path / "out" / "prometheus.yml"
    out.parent.mkdir()
    atomic_replace(cfg, b"v1")
    log = tmp_path / "reloader.log"
    async with RecordingEndpoint([str(out)]) as ep:
        proc = await _start_rendering(log, cfg, out, ep)
        try:
            await ep.wait_for(lambda: len(ep.successful) == 1, timeout=30)
            tmp = tmp_path / "prometheus.yml.tmp"
            tmp.symlink_to(cfg.name)  # after the rename: prometheus.yml -> prometheus.yml
            os.replace(tmp, cfg)
            await wait_until(lambda: len(log_lines(log, "apply failed:")) > 0, timeout=30)
            assert out.read_bytes() == b"v1"  # previous output kept
            assert len(ep.reloads) == 1  # no reload
            atomic_replace(tmp, b"v2")
            os.replace(tmp, cfg)
            await ep.wait_for(lambda: len(ep.successful) == 2, timeout=30)
            assert ep.successful[-1].contents[str(out)] == b"v2"
            await wait_until(lambda: len(log_lines(log, "apply succeeded again")) == 1, timeout=10)
            _, _ = await sigterm_and_wait(proc)
        finally:
            await kill_if_running(proc)
    text = log.read_text()
    assert proc.returncode == 0, text
    return text, log_lines(log, "apply failed:")  # not the debug "apply failed while files changed"


async def test_config_file_replaced_by_a_symlink_loop_is_an_error_until_fixed(tmp_path: Path) -> None:
    text, failed = await _config_file_loop_then_fixed(tmp_path)
    assert len(failed) == 1, text  # logged once, not once per retry
    assert "previous output kept, no reload" in failed[0]
    assert str(tmp_path / "prometheus.yml") in failed[0]
    assert "Errno" not in failed[0]
    assert "symlink loop" in failed[0]


async def test_missing_config_file_at_start_says_no_output_was_written(tmp_path: Path) -> None:
    """Nothing was ever applied: the apply error does not speak of a previous output to keep."""
    cfg, out = tmp_path / "prometheus.yml", tmp_path / "out.yml"
    log = tmp_path / "reloader.log"
    async with RecordingEndpoint([str(out)]) as ep:
        proc = await _start_rendering(log, cfg, out, ep)
        try:
            await wait_until(lambda: len(log_lines(log, "apply failed:")) > 0, timeout=30)
            assert not out.exists() and not ep.reloads
            atomic_replace(cfg, b"v1")
            await ep.wait_for(lambda: len(ep.successful) == 1, timeout=30)
            _, _ = await sigterm_and_wait(proc)
        finally:
            await kill_if_running(proc)
    failed = log_lines(log, "apply failed:")
    assert len(failed) == 1, log.read_text()
    assert "apply failed: no output written yet, no reload" in failed[0]
    assert "previous output kept" not in failed[0]
    assert str(cfg) in failed[0]


async def test_config_file_replaced_by_a_directory_is_named_as_one(tmp_path: Path) -> None:
    cfg, out = tmp_path / "prometheus.yml", tmp_path / "out.yml"
    cfg.write_bytes(b"v1")
    log = tmp_path / "reloader.log"
    async with RecordingEndpoint([str(out)]) as ep:
        proc = await start_cli_logging_to(
            log, f"--config-file={cfg}", f"--config-envsubst-file={out}", f"--reload-url={ep.reload_url}"
        )
        try:
            await ep.wait_for(lambda: len(ep.successful) == 1, timeout=30)
            cfg.unlink()
            cfg.mkdir()
            await wait_until(lambda: len(log_lines(log, "apply failed:")) > 0, timeout=30)
            assert out.read_bytes() == b"v1" and len(ep.reloads) == 1
            _, _ = await sigterm_and_wait(proc)
        finally:
            await kill_if_running(proc)
    failed = log_lines(log, "apply failed:")
    assert "apply failed: previous output kept, no reload" in failed[0]
    assert f"config file {cfg} is a directory: give the path of the config file" in failed[0]
