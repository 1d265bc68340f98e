"""The sidecar's first reload before the event loop (config_reloader.reconcile.first), handed to the
Reloader: real files, real HTTP (RecordingEndpoint reads the files when the POST arrives, as
Prometheus would), real inotify.

The property under test: a reload done before the engine started loses no change. Writes that
land while that reload is in flight are the hard case: the engine's watches do not exist yet.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import childproc
import pytest
from test_reloader_support import start_reloader_fixture  # noqa: F401  (the start_reloader fixture)

from config_reloader.logs import LineLog
from config_reloader.reconcile import ReloaderOptions
from config_reloader.reconcile.first import FirstReload, eligible, first_reload, holds_at_most
from config_reloader.recording import RecordingEndpoint
from config_reloader.testing import atomic_replace, wait_until

Start = Callable[..., Any]


def opts(url: str, tmp_path: Path, **kw: Any) -> ReloaderOptions:
    kw.setdefault("delay_interval", 0.0)
    kw.setdefault("watch_interval", 3600.0)
    kw.setdefault("reload_timeout", 5.0)
    return ReloaderOptions(
        reload_url=url,
        config_file=str(tmp_path / "prometheus.yml"),
        config_envsubst_file=str(tmp_path / "out" / "prometheus.yml"),
        watched_dirs=(str(tmp_path / "rules"),),
        **kw,
    )


def layout(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    rules = tmp_path / "rules"
    rules.mkdir()
    atomic_replace(tmp_path / "prometheus.yml", b"global:\n  external_labels:\n    pod: $(POD)\n")
    for i in range(3):
        atomic_replace(rules / f"r{i}.yaml", f"groups: [] # {i}\n".encode())
    return rules


def line_log() -> tuple[LineLog, io.StringIO]:
    out = io.StringIO()
    return LineLog("config_reloader.reconcile", "logfmt", "debug", out), out


async def first(options: ReloaderOptions) -> tuple[FirstReload | None, str]:
    log, out = line_log()
    done = await asyncio.to_thread(first_reload, options, log, {"POD": "p-0"})
    return done, out.getvalue()


async def settled(run: Any) -> None:
    """Wait until the engine's first pass was accepted and nothing is left to reload."""
    await wait_until(lambda: run.reloader.desired is not None, timeout=15)
    await run.reloader.wait_applied(timeout=15)


def test_only_one_http_reload_url_takes_this_path(tmp_path: Path) -> None:
    base = opts("http://127.0.0.1:9/-/reload", tmp_path)
    assert eligible(base)
    assert not eligible(opts("http://127.0.0.1:9/-/reload", tmp_path, watch_interval=0.0))
    two = opts("http://127.0.0.1:9/-/reload", tmp_path, extra_reload_urls=("http://127.0.0.1:8/-/reload",))
    assert not eligible(two)
    assert not eligible(opts("http://127.0.0.1:9/-/reload", tmp_path, reload_method="signal"))


async def test_engine_adopts_the_first_reload_and_reloads_nothing_more(
    tmp_path: Path, start_reloader: Start
) -> None:
    rules = layout(tmp_path)
    async with RecordingEndpoint([str(tmp_path / "out"), str(rules)]) as ep:
        options = opts(ep.reload_url, tmp_path)
        done, lines = await first(options)
        assert done is not None, lines
        assert 'msg="reload triggered"' in lines
        assert len(ep.successful) == 1
        # the output was written before the POST: the target read the rendered config
        assert ep.successful[0].contents[str(tmp_path / "out" / "prometheus.yml")].endswith(b"pod: p-0\n")
        run = await start_reloader(options, first=done, env={"POD": "p-0"})
        await settled(run)
        assert run.reloader.applied == done.applied
        assert len(ep.reloads) == 1
        assert run.metric("reloader_reloads_total") == 1
        assert run.metric("reloader_reloads_repeated_total") == 0
        # and it watches: a change after the start is reloaded
        atomic_replace(rules / "r1.yaml", b"groups: [] # changed\n")
        await ep.wait_for(lambda: len(ep.successful) == 2, timeout=10)
        assert ep.successful[-1].contents[str(rules / "r1.yaml")] == b"groups: [] # changed\n"


async def test_change_during_the_first_reload_is_reloaded(tmp_path: Path, start_reloader: Start) -> None:
    rules = layout(tmp_path)

    def during(n: int) -> None:
        if n == 1:  # while the target reloads, before the engine has any watch
            atomic_replace(rules / "r2.yaml", b"groups: [] # new\n")

    async with RecordingEndpoint([str(rules)], during=during) as ep:
        options = opts(ep.reload_url, tmp_path)
        done, lines = await first(options)
        assert done is not None, lines
        assert ep.successful[0].contents[str(rules / "r2.yaml")] == b"groups: [] # 2\n"
        run = await start_reloader(options, first=done, env={"POD": "p-0"})
        await ep.wait_for(lambda: len(ep.successful) == 2, timeout=10)
        assert ep.successful[-1].contents[str(rules / "r2.yaml")] == b"groups: [] # new\n"
        await settled(run)
        assert run.reloader.applied != done.applied


async def test_write_and_revert_during_the_first_reload_reloads_once_more(
    tmp_path: Path, start_reloader: Start
) -> None:
    """The target may have read the state in between: same content again is not enough."""
    rules = layout(tmp_path)

    def during(n: int) -> None:
        if n == 1:
            atomic_replace(rules / "r0.yaml", b"groups: [] # in between\n")
            atomic_replace(rules / "r0.yaml", b"groups: [] # 0\n")

    async with RecordingEndpoint([str(rules)], during=during) as ep:
        options = opts(ep.reload_url, tmp_path)
        done, lines = await first(options)
        assert done is not None, lines
        run = await start_reloader(options, first=done, env={"POD": "p-0"})
        await ep.wait_for(lambda: len(ep.successful) == 2, timeout=10)
        await settled(run)
        assert run.reloader.applied == done.applied  # the same content, reloaded again
        assert ep.successful[-1].contents[str(rules / "r0.yaml")] == b"groups: [] # 0\n"
        assert run.metric("reloader_reloads_repeated_total") == 1


async def test_refused_first_reload_is_logged_and_handed_over(tmp_path: Path) -> None:
    layout(tmp_path)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/-/reload?token=s3cret"
    done, lines = await first(opts(url, tmp_path))
    assert done is not None and done.applied is None
    assert "connection refused" in done.error
    assert 'msg="reload failed, retrying"' in lines and "attempt=1" in lines
    assert "token=***" in lines and "s3cret" not in lines + done.error


async def test_rejected_first_reload_counts_as_the_first_attempt(
    tmp_path: Path, start_reloader: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine goes on with attempt 2 at once, and does not log the same error again."""
    rules = layout(tmp_path)
    async with RecordingEndpoint([str(rules)], fail=lambda n: n == 1) as ep:
        options = opts(ep.reload_url, tmp_path)
        done, _ = await first(options)
        assert done is not None and done.applied is None
        assert "injected failure" in done.error
        caplog.set_level(logging.INFO, logger="config_reloader")
        run = await start_reloader(options, first=done, env={"POD": "p-0"})
        await settled(run)
        assert [r.status for r in ep.reloads] == [500, 200]
        assert run.metric("reloader_reloads_total") == 2
        assert run.metric("reloader_reloads_failed_total") == 1
        messages = [(r.getMessage(), getattr(r, "attempts", None)) for r in caplog.records]
        assert ("reload succeeded after retries", 2) in messages
        assert not any(m == "reload failed, retrying" for m, _ in messages)


def test_many_watched_files_leave_the_first_reload_to_the_engine(tmp_path: Path) -> None:
    """Above the limit the engine, which serves /healthz before it hashes, does the first reload."""
    rules = layout(tmp_path)  # 3 rule files
    nested = rules / "nested"
    nested.mkdir()
    atomic_replace(nested / "n.yaml", b"groups: []\n")
    (rules / "..data").mkdir()  # kubelet's internals are not counted
    atomic_replace(rules / "..data" / "hidden.yaml", b"groups: []\n")
    options = opts("http://127.0.0.1:9/-/reload", tmp_path)
    assert holds_at_most([str(rules)], 5)  # r0, r1, r2, nested, nested/n.yaml
    assert not holds_at_most([str(rules)], 4)
    assert holds_at_most([str(tmp_path / "missing")], 0)
    assert eligible(options, max_files=5)
    assert not eligible(options, max_files=4)


def test_validating_sidecars_and_init_containers_do_not_take_this_path(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/-/reload"
    assert not eligible(opts(url, tmp_path, validate_command=("promtool", "check", "config", "{}")))
    assert not eligible(opts(url, tmp_path, watch_interval=0.0))


async def test_sigterm_during_the_first_reload_exits_0(tmp_path: Path) -> None:
    """A target that accepts the connection and never answers: SIGTERM still ends ``watch``
    at once with exit 0, as it does once the engine runs."""
    layout(tmp_path)
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        url = f"http://127.0.0.1:{srv.getsockname()[1]}/-/reload"
        proc = await childproc.exec_async(
            sys.executable, "-m", "config_reloader", "watch", f"--reload-url={url}",
            f"--config-file={tmp_path / 'prometheus.yml'}",
            f"--config-envsubst-file={tmp_path / 'out' / 'prometheus.yml'}",
            f"--watched-dir={tmp_path / 'rules'}", "--reload-timeout=60s",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            conn, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(srv), timeout=30)
            with conn:
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(10):
                    out, _ = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, out.decode()
    assert b'msg="received signal, exiting" signal=SIGTERM' in out
    assert b"Traceback" not in out


async def test_unrenderable_config_is_left_to_the_engine(tmp_path: Path) -> None:
    layout(tmp_path)
    (tmp_path / "prometheus.yml").unlink()
    async with RecordingEndpoint([]) as ep:
        done, lines = await first(opts(ep.reload_url, tmp_path))
        assert done is None
        assert "first reload left to the engine: read failed" in lines
        assert ep.reloads == []


def _watch_argv(tmp_path: Path, url: str, listen: str) -> list[str]:
    return [
        sys.executable, "-m", "config_reloader", "watch", f"--reload-url={url}",
        f"--config-file={tmp_path / 'prometheus.yml'}",
        f"--config-envsubst-file={tmp_path / 'out' / 'prometheus.yml'}",
        f"--watched-dir={tmp_path / 'rules'}", f"--listen-address={listen}",
    ]  # fmt: skip


async def test_listen_address_in_use_ends_watch_before_any_reload(tmp_path: Path) -> None:
    """The status server's socket is bound before the first reload: a port in use ends the
    process with exit 1 and the target gets no reload (a crash loop would reload it each time)."""
    layout(tmp_path)
    async with RecordingEndpoint([]) as ep:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            listen = f"127.0.0.1:{busy.getsockname()[1]}"
            proc = await childproc.exec_async(
                *_watch_argv(tmp_path, ep.reload_url, listen),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={"POD": "p-0"},
            )  # fmt: skip
            async with asyncio.timeout(60):
                out, _ = await proc.communicate()
        said = out.decode()
        assert proc.returncode == 1, said
        assert 'msg="cannot listen on --listen-address"' in said, said
        assert f"listen_address={listen}" in said and '"Address already in use"' in said, said
        assert "[Errno" not in said and "Traceback" not in said, said
        assert "reload triggered" not in said, said
        assert ep.reloads == []


async def test_status_server_serves_on_the_socket_bound_before_the_first_reload(tmp_path: Path) -> None:
    layout(tmp_path)
    async with RecordingEndpoint([]) as ep:
        proc = await childproc.exec_async(
            *_watch_argv(tmp_path, ep.reload_url, "127.0.0.1:0"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={"POD": "p-0"},
        )  # fmt: skip
        assert proc.stdout is not None
        lines: list[str] = []
        try:
            async with asyncio.timeout(60):
                while not any("status server listening" in line for line in lines):
                    line = (await proc.stdout.readline()).decode()
                    assert line, "".join(lines)
                    lines.append(line)
            said = "".join(lines)
            assert said.index("reload triggered") < said.index("status server listening"), said
            port = int(said.split("status server listening", 1)[1].split("port=", 1)[1].split()[0])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            async with asyncio.timeout(30):
                answer = await reader.read()
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            assert len(ep.reloads) == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await proc.communicate()
    assert proc.returncode == 0
