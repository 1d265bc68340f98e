"""The real `config-reloader watch` CLI as a subprocess against a RecordingEndpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from config_reloader.testing import RecordingEndpoint, atomic_replace, wait_until

INTERPRETER = os.path.realpath(sys.executable)


def hups(marker: Path) -> int:
    try:
        return marker.read_text().count("hup")
    except FileNotFoundError:
        return 0


async def start_cli(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "config_reloader",
        "watch",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def sigterm_and_wait(proc: asyncio.subprocess.Process) -> tuple[float, bytes]:
    """Send SIGTERM and wait (10 s deadline) for the exit: (seconds it took, remaining stderr)."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        _, err = await proc.communicate()
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
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "config_reloader",
            "watch",
            f"--config-file={cfg}",
            f"--config-envsubst-file={out}",
            "--watch-interval=0",
            f"--reload-url={ep.reload_url}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "POD_NAME": "prometheus-k8s-2"},
        )
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
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
        _, err = await proc.communicate()
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
            assert proc.stderr is not None
            async with asyncio.timeout(30):
                while b"reload failed, retrying" not in await proc.stderr.readline():
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
    target = await asyncio.create_subprocess_exec(str(exe), "-c", script)
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

    assert proc.stderr is not None
    async with asyncio.timeout(30):
        while True:
            line = await proc.stderr.readline()
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
                async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                    text = await r.text()
            assert "reloader_reloads_total 1.0" in text
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
            _, err = await proc.communicate()
        assert proc.returncode == 2
        assert b"web config" in err and b"cannot load the server certificate" in err
        assert ep.reloads == []
