"""Hostile and broken input through the real CLI: gzip bombs and $(VAR) amplification, things
other than a regular file at the output path, secrets in validator output, output modes and
owners, hostile --unit files. Every case runs `config-reloader` as a subprocess on real files.

The children run under RLIMIT_AS (2 GiB): a regression that reads without bound ends in an
error there instead of taking the shared test machine's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shlex
import signal
import stat
import subprocess
import sys
import time
import zlib
from pathlib import Path

import childproc
import pytest

from config_reloader.testing import RecordingEndpoint, atomic_replace, wait_until

ADDRESS_SPACE_CAP = 2 << 30
MIB = 1 << 20


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def cli(
    *argv: str, timeout: float = 60, env: dict[str, str] | None = None, umask: int = -1
) -> subprocess.CompletedProcess[str]:
    # `watch` logs to stdout (as prometheus-config-reloader), `condition` and `run` to stderr, flag
    # errors go to stderr: the tests read one merged stream, as a container's log shows it.
    proc = childproc.run(
        [sys.executable, "-m", "config_reloader", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        env=env,
        umask=umask,
        preexec_fn=_limit_memory,
        check=False,
    )
    proc.stderr = proc.stdout
    return proc


def peak_rss_of(*argv: str, timeout: float = 120) -> tuple[int, str, int]:
    """Run the CLI in a fresh interpreter that reports its child's peak RSS:
    (exit status, stderr, peak RSS in bytes)."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)\n"
        "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
        "sys.stderr.write(p.stdout)\n"
        "sys.exit(p.returncode)\n"
    )
    proc = childproc.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "config_reloader", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
        check=False,
    )
    return proc.returncode, proc.stderr, int(proc.stdout) * 1024


def gzip_of_zeros(path: Path, size: int) -> None:
    """A gzip stream of ``size`` zero bytes, written without holding them in memory."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MIB)
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(comp.compress(block))
        f.write(comp.flush())


# -- 2. gzip bomb and $(VAR) amplification ------------------------------------------------------


def test_gzip_bomb_is_stopped_at_the_limit_with_bounded_memory(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yaml.gz"
    out = tmp_path / "prometheus.env.yaml"
    gzip_of_zeros(cfg, 512 * MIB)
    out.write_bytes(b"previous: output\n")
    status, err, peak = peak_rss_of(
        "watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0"
    )
    assert status == 1, err
    assert "--max-config-size=32MiB" in err
    assert "Traceback" not in err and "MemoryError" not in err
    assert len([line for line in err.splitlines() if "level=error" in line]) == 1
    assert out.read_bytes() == b"previous: output\n"
    # 32 MiB of output at most, plus one inflate chunk, plus the interpreter (~40 MiB).
    assert peak < 120 * MIB, f"peak RSS {peak / MIB:.0f} MiB"


def test_max_config_size_flag_raises_and_lowers_the_limit(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml.gz"
    out = tmp_path / "out.yaml"
    gzip_of_zeros(cfg, 2 * MIB)
    r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0",
            "--max-config-size=1MiB")  # fmt: skip
    assert r.returncode == 1 and "exceeds --max-config-size=1MiB" in r.stderr, r.stderr
    assert not out.exists()
    r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0",
            "--max-config-size=3MiB")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size == 2 * MIB
    r = cli("watch", f"--config-file={cfg}", "--watch-interval=0", "--max-config-size=lots")
    assert r.returncode == 2 and "--max-config-size" in r.stderr and "Traceback" not in r.stderr


def test_var_amplification_is_stopped_at_the_limit(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    cfg.write_bytes(b"x: $(BIG)\n" * 2000)  # 20 KB that expand to 2000 x 60 KB = 120 MB
    out.write_bytes(b"previous\n")
    env = {**os.environ, "BIG": "v" * 60_000}
    r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0", env=env)
    assert r.returncode == 1, r.stderr
    assert "after $(VAR) expansion exceeds --max-config-size=32MiB" in r.stderr
    assert "Traceback" not in r.stderr
    assert "v" * 100 not in r.stderr
    assert out.read_bytes() == b"previous\n"


# -- 3. something other than a regular file at the output path ----------------------------------


def test_fifo_at_the_output_path_is_replaced_not_read(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    cfg.write_bytes(b"a: 1\n")
    os.mkfifo(out)
    r = cli(
        "watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0", timeout=20
    )
    assert r.returncode == 0, r.stderr
    assert stat.S_ISREG(os.lstat(out).st_mode)
    assert out.read_bytes() == b"a: 1\n"


def test_own_symlink_to_dev_zero_at_the_output_path_is_refused_not_read(tmp_path: Path) -> None:
    # Our own link to a device is taken as meant (``--dump /dev/stdout``): never read (it would
    # never end), never replaced (as root that would swap a system link for a regular file).
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    cfg.write_bytes(b"a: 1\n")
    out.symlink_to("/dev/zero")
    r = cli(
        "watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0", timeout=20
    )
    assert r.returncode == 1, r.stderr
    assert "character device, not replaced" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert os.readlink(out) == "/dev/zero"


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's symlink needs root (lchown)")
def test_symlink_to_dev_zero_planted_by_another_user_is_replaced_not_read(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    cfg.write_bytes(b"a: 1\n")
    out.symlink_to("/dev/zero")
    os.lchown(out, 65534, 65534)  # nobody's link in a shared directory
    r = cli(
        "watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0", timeout=20
    )
    assert r.returncode == 0, r.stderr
    assert not out.is_symlink()
    assert out.read_bytes() == b"a: 1\n"


def test_fifo_or_device_as_the_config_file_is_an_error_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "in.yaml"
    os.mkfifo(fifo)
    for cfg in (str(fifo), "/dev/zero"):
        r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={tmp_path / 'out'}",
                "--watch-interval=0", timeout=20)  # fmt: skip
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr


async def test_fifo_planted_at_the_output_in_watch_mode_does_not_stop_reloads(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    atomic_replace(cfg, b"v: 1\n")
    async with RecordingEndpoint([str(out)]) as ep:
        proc = await childproc.exec_async(
            sys.executable, "-m", "config_reloader", "watch", f"--config-file={cfg}",
            f"--config-envsubst-file={out}", f"--reload-url={ep.reload_url}", "--delay-interval=0",
            "--watch-interval=1s", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await ep.wait_for(lambda: len(ep.successful) >= 1, timeout=30)
            out.unlink()
            os.mkfifo(out)
            atomic_replace(cfg, b"v: 2\n")
            await ep.wait_for(lambda: len(ep.successful) >= 2, timeout=30)
            assert ep.successful[-1].contents[str(out)] == b"v: 2\n"
            assert stat.S_ISREG(os.lstat(out).st_mode)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                await proc.wait()
            assert time.monotonic() - t0 < 3
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


# -- 4. expanded values never reach the log -----------------------------------------------------


async def test_validator_output_masks_expanded_values(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    log = tmp_path / "stderr.log"
    atomic_replace(cfg, b"basic_auth:\n  password: $(REMOTE_PW)\n  user: $(REMOTE_USER)\n")
    # A validator that quotes the candidate back, as promtool quotes a bad value.
    validator = 'sh -c \'echo "bad value: $(cat "$1")"; exit 1\' validator {}'
    env = {**os.environ, "REMOTE_PW": "TopSecretPW123", "REMOTE_USER": 'ad"min'}
    async with RecordingEndpoint([str(out)]) as ep:
        proc = await start_watch(log, f"--config-file={cfg}", f"--config-envsubst-file={out}",
                                 f"--reload-url={ep.reload_url}", f"--validate-command={validator}",
                                 env=env)  # fmt: skip
        try:
            await wait_until(lambda: "validate_output" in log.read_text(), timeout=30)
        finally:
            await stop(proc)
    text = log.read_text()
    assert "TopSecretPW123" not in text
    assert 'ad\\\\\\"min' not in text and 'ad\\"min' not in text and 'ad"min' not in text
    assert "password: ***" in text, text
    assert not out.exists()


# -- 5. output mode and owner -------------------------------------------------------------------


def test_new_output_mode_is_masked_by_the_umask(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    cfg.write_bytes(b"password: $(PW)\n")
    cfg.chmod(0o644)
    env = {**os.environ, "PW": "s3cret"}
    r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0",
            env=env, umask=0o077)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to plant a file owned by another user")
def test_output_planted_by_another_user_keeps_neither_its_owner_nor_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    shared.chmod(0o1777)
    cfg = tmp_path / "in.yaml"
    cfg.write_bytes(b"password: $(PW)\n")
    cfg.chmod(0o644)
    out = shared / "out.yaml"
    out.write_bytes(b"")
    os.chown(out, 65534, 65534)
    out.chmod(0o666)
    env = {**os.environ, "PW": "s3cret"}
    r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0",
            env=env, umask=0o022)  # fmt: skip
    assert r.returncode == 0, r.stderr
    st = out.stat()
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert out.read_bytes() == b"password: s3cret\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create an input owned by another user")
def test_input_of_another_user_gives_no_group_or_other_write(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    cfg.write_bytes(b"a: 1\n")
    os.chown(cfg, 65534, 65534)
    cfg.chmod(0o666)
    r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0", umask=0)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# -- 6. hostile --unit files --------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["condition", "run"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "nul-bytes", "long-line", "long-continuation"])
def test_hostile_unit_file_exits_2_with_one_line(tmp_path: Path, cmd: str, kind: str) -> None:
    unit = tmp_path / "x.service"
    if kind == "fifo":
        os.mkfifo(unit)
        expect = "not a regular file"
    elif kind == "dev-zero":
        unit.symlink_to("/dev/zero")
        expect = "not a regular file"
    elif kind == "nul-bytes":
        with open(unit, "wb") as f:
            f.truncate(300 * MIB)  # sparse: 300 MB of NUL bytes
        expect = "too large"
    elif kind == "long-line":
        unit.write_bytes(b"[Unit]\nDescription=" + b"x" * (2 * MIB) + b"\n")
        expect = "x.service:2: line too long"
    else:
        unit.write_bytes(b"[Unit]\n" + b"Description=" + (b"x" * 4000 + b" \\\n") * 300 + b"end\n")
        expect = "continuation line too long"
    argv = ["condition", f"--unit={unit}"] if cmd == "condition" else ["run", f"--unit={unit}", "--", "true"]
    r = cli(*argv, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert expect in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("cmd", ["condition", "run"])
def test_unit_file_with_a_nul_byte_is_refused(tmp_path: Path, cmd: str) -> None:
    unit = tmp_path / "x.service"
    unit.write_bytes(b"[Unit]\nConditionPathExists=/\n\x00\n")
    argv = ["condition", f"--unit={unit}"] if cmd == "condition" else ["run", f"--unit={unit}", "--", "true"]
    r = cli(*argv, timeout=30)
    assert r.returncode == 2, r.stderr
    assert "x.service:3: NUL byte in unit file" in r.stderr


# -- SIGTERM whatever a worker thread waits for; SIGHUP; init-mode warnings; empty config -------


async def start_watch(log: Path, *argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        return await childproc.exec_async(
            sys.executable, "-m", "config_reloader", "watch", "--log-format=json", *argv,
            stdout=fd, stderr=fd, env=env, preexec_fn=_limit_memory,
        )  # fmt: skip
    finally:
        os.close(fd)


def log_records(log: Path) -> list[dict[str, object]]:
    import json

    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"msg": line})
    return out


def logged(log: Path, msg: str) -> list[dict[str, object]]:
    return [r for r in log_records(log) if msg in str(r.get("msg"))]


async def status_port(log: Path) -> int:
    await wait_until(lambda: bool(logged(log, "status server listening")), timeout=30)
    return int(str(logged(log, "status server listening")[0]["port"]))


async def metric(port: int, name: str) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def stop(proc: asyncio.subprocess.Process) -> float:
    t0 = time.monotonic()
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(15):
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return time.monotonic() - t0


@pytest.mark.parametrize("escapes", [False, True], ids=["in-group", "own-session"])
async def test_sigterm_ends_the_process_while_a_validator_hangs(tmp_path: Path, escapes: bool) -> None:
    """A validator that hangs holds a worker thread. In its process group it is killed at
    SIGTERM; one that left the group (setsid) cannot be, and still holds the output pipe, so the
    worker thread stays blocked: the stop grace timer ends the process anyway."""
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    marker = tmp_path / "validator.pid"
    log = tmp_path / "log"
    atomic_replace(cfg, b"a: 1\n")
    hang = (
        f"setsid sh -c 'echo $$ > {marker}; exec sleep 120'"
        if escapes
        else f"echo $$ > {marker}; sleep 120; true"
    )
    validator = f"sh -c {shlex.quote(hang)} validator {{}}"
    async with RecordingEndpoint([str(out)]) as ep:
        proc = await start_watch(log, f"--config-file={cfg}", f"--config-envsubst-file={out}",
                                 f"--reload-url={ep.reload_url}",
                                 f"--validate-command={validator}")  # fmt: skip
        try:
            await wait_until(lambda: marker.exists() and marker.read_text().strip() != "", timeout=30)
            took = await stop(proc)
        finally:
            await stop(proc)
            hung = int(marker.read_text()) if marker.exists() and marker.read_text().strip() else 0
            if escapes and hung:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(hung, signal.SIGKILL)
    assert proc.returncode == 0, log.read_text()
    assert took < 3, f"exit took {took:.1f}s"
    if not escapes:
        await wait_until(lambda: _zombie(hung), timeout=30)  # 5 s was short under load
    else:
        assert logged(log, "still busy after the stop signal")
    assert "Traceback" not in log.read_text()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def test_sighup_is_a_full_rescan_not_death(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    log = tmp_path / "log"
    atomic_replace(cfg, b"a: 1\n")
    async with RecordingEndpoint([str(cfg)]) as ep:
        proc = await start_watch(log, f"--config-file={cfg}", f"--reload-url={ep.reload_url}",
                                 "--watch-interval=1h", "--listen-address=127.0.0.1:0")  # fmt: skip
        try:
            port = await status_port(log)
            await ep.wait_for(lambda: len(ep.successful) >= 1, timeout=30)
            before = await metric(port, "reloader_config_apply_operations_total")
            proc.send_signal(signal.SIGHUP)
            await wait_until(lambda: bool(logged(log, "received SIGHUP: full rescan")), timeout=15)

            async def rescanned() -> bool:
                return await metric(port, "reloader_config_apply_operations_total") > before

            await wait_until(rescanned, timeout=15)
            assert proc.returncode is None
            assert len(ep.successful) == 1  # same content: no reload
        finally:
            await stop(proc)
    assert proc.returncode == 0, log.read_text()


def test_init_mode_warns_about_unset_variables(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    cfg.write_bytes(b"namespace: $(NAMESPACE_TYPO)\n")
    env = {k: v for k, v in os.environ.items() if k != "NAMESPACE_TYPO"}
    r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0", env=env)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "unset environment variables left verbatim" in line]
    assert len(warnings) == 1 and "level=warn" in warnings[0] and "NAMESPACE_TYPO" in warnings[0], r.stderr
    assert out.read_bytes() == b"namespace: $(NAMESPACE_TYPO)\n"


def test_init_mode_warns_about_an_empty_rendered_config(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    cfg.write_bytes(b"# $(NOTHING) here\n\n")
    r = cli("watch", f"--config-file={cfg}", f"--config-envsubst-file={out}", "--watch-interval=0")
    assert r.returncode == 0, r.stderr
    assert "rendered config is empty" in r.stderr and "level=warn" in r.stderr


async def test_empty_rendered_config_is_a_warning_and_a_metric(tmp_path: Path) -> None:
    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    log = tmp_path / "log"
    atomic_replace(cfg, b"scrape_configs: []\n")
    async with RecordingEndpoint([str(out)]) as ep:
        proc = await start_watch(log, f"--config-file={cfg}", f"--config-envsubst-file={out}",
                                 f"--reload-url={ep.reload_url}", "--delay-interval=0",
                                 "--listen-address=127.0.0.1:0")  # fmt: skip
        try:
            port = await status_port(log)
            await ep.wait_for(lambda: len(ep.successful) >= 1, timeout=30)
            assert await metric(port, "reloader_config_empty") == 0
            atomic_replace(cfg, b"  \n# emptied by mistake\n")
            await ep.wait_for(lambda: len(ep.successful) >= 2, timeout=30)
            assert await metric(port, "reloader_config_empty") == 1
            warned = logged(log, "rendered config is empty")
            assert warned and warned[0]["level"] == "warn", log.read_text()
            atomic_replace(cfg, b"scrape_configs: [] # back\n")
            await ep.wait_for(lambda: len(ep.successful) >= 3, timeout=30)
            assert await metric(port, "reloader_config_empty") == 0
        finally:
            await stop(proc)


@pytest.mark.parametrize("url", ["admin:S3cretPW@127.0.0.1:9090/-/reload", ":S3cretPW@127.0.0.1"])
def test_reload_url_without_scheme_does_not_show_its_password(tmp_path: Path, url: str) -> None:
    """Found by the fuzz suite: without ``http://`` the credentials were not recognised as such
    and the flag error printed them."""
    r = cli("watch", f"--config-file={tmp_path / 'in.yaml'}", f"--reload-url={url}")
    assert r.returncode == 2, r.stderr
    assert "--reload-url" in r.stderr and "***@127.0.0.1" in r.stderr
    assert "S3cretPW" not in r.stderr


async def test_reload_error_quoting_the_config_masks_expanded_values(tmp_path: Path) -> None:
    """A target that rejects the config may quote the bad line in its answer (Prometheus does);
    the logged error masks the values that $(VAR) expansion put there."""
    from aiohttp import web

    cfg = tmp_path / "in.yaml"
    out = tmp_path / "out.yaml"
    log = tmp_path / "log"
    atomic_replace(cfg, b"remote_write: [{url: x, password: $(REMOTE_PW)}]\n")

    async def reject(_request: web.Request) -> web.Response:
        quoted = out.read_text().strip()
        return web.Response(status=500, text=f"failed to reload config: bad line {quoted!r}")

    app = web.Application()
    app.router.add_post("/-/reload", reject)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    env = {**os.environ, "REMOTE_PW": "TopSecretPW123"}
    try:
        proc = await start_watch(log, f"--config-file={cfg}", f"--config-envsubst-file={out}",
                                 f"--reload-url=http://127.0.0.1:{port}/-/reload", env=env)  # fmt: skip
        try:
            await wait_until(lambda: "failed to reload config" in log.read_text(), timeout=30)
        finally:
            await stop(proc)
    finally:
        await runner.cleanup()
    text = log.read_text()
    assert "password: ***" in text, text
    assert "TopSecretPW123" not in text
    assert out.read_text() == "remote_write: [{url: x, password: TopSecretPW123}]\n"
