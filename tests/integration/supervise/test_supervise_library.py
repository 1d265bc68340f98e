"""The supervise package used as a library (in-process asyncio, real child processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from supervise_helpers import TESTSERVICE, read_json

from config_reloader.errors import TargetNotFound
from config_reloader.supervise import (
    ReadyGatedReload,
    RestartReload,
    SuperviseOptions,
    Supervisor,
    exit_status_from_wait,
    list_children,
    process_group_members,
)
from config_reloader.testing import wait_until


def test_exit_status_from_wait():
    assert exit_status_from_wait(3 << 8) == 3
    assert exit_status_from_wait(signal.SIGKILL) == 128 + 9
    assert exit_status_from_wait(0) == 0


@pytest.mark.parametrize(
    "kw",
    [
        {"argv": ()},
        {"stop_timeout": -1.0},
        {"restart_delay": float("nan")},
        {"ready_delay": -0.5},
        {"restart": "sometimes"},
        {"max_restarts_per_minute": -1},
        {"cpus": frozenset()},
    ],
)
def test_options_refuse_bad_values(kw):
    base = {"argv": ("true",)}
    with pytest.raises(ValueError):
        SuperviseOptions(**(base | kw))


def test_list_children_reads_fake_proc(tmp_path):
    root = tmp_path / "proc"
    (root / "100" / "task" / "100").mkdir(parents=True)
    (root / "100" / "task" / "100" / "children").write_text("200 201 ")
    (root / "200").mkdir()
    (root / "200" / "stat").write_text("200 (a (weird) name) Z 100 200 200 0")
    (root / "201").mkdir()
    (root / "201" / "stat").write_text("201 (sleep) S 100 201 201 0")
    assert list_children(100, proc_root=str(root)) == {200: "Z", 201: "S"}


def test_list_children_fallback_scans_stat(tmp_path):
    root = tmp_path / "proc"
    (root / "100").mkdir(parents=True)
    (root / "300").mkdir()
    (root / "300" / "stat").write_text("300 (x) R 100 1 1 0")
    (root / "301").mkdir()
    (root / "301" / "stat").write_text("301 (y) R 7 1 1 0")
    assert list_children(100, proc_root=str(root)) == {300: "R"}


def _fake_proc(root, procs: dict[int, tuple[str, int, int, list[int] | None]]) -> None:
    """procs: pid -> (state, ppid, pgrp, children or None for no task/*/children file)."""
    for pid, (state, ppid, pgrp, children) in procs.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "stat").write_text(f"{pid} (a (b) c) {state} {ppid} {pgrp} {pgrp} 0")
        if children is not None:
            (root / str(pid) / "task" / str(pid)).mkdir(parents=True)
            (root / str(pid) / "task" / str(pid) / "children").write_text(" ".join(map(str, children)))


def test_process_group_members_walks_the_subtree_or_scans_everything(tmp_path):
    root = tmp_path / "proc"
    _fake_proc(
        root,
        {
            100: ("S", 1, 100, [200, 201]),  # the supervisor
            200: ("Z", 100, 200, []),  # the child (a zombie: exited, not reaped yet)
            201: ("S", 100, 200, [300, 301]),  # a grandchild re-parented to the supervisor
            300: ("R", 201, 200, None),
            301: ("S", 201, 301, []),  # left the group (setsid)
            400: ("S", 1, 200, []),  # outside the subtree (not re-parented to us)
        },
    )
    assert process_group_members(200, str(root), within=100) == {200: "Z", 201: "S", 300: "R"}
    assert process_group_members(200, str(root)) == {200: "Z", 201: "S", 300: "R", 400: "S"}
    assert process_group_members(301, str(root)) == {301: "S"}
    # no children files for the subtree's root: every process is read
    assert process_group_members(200, str(root), within=300) == {200: "Z", 201: "S", 300: "R", 400: "S"}


def _opts(state, *extra: str, **kw) -> SuperviseOptions:
    return SuperviseOptions(
        argv=(sys.executable, TESTSERVICE, "--state", str(state), *extra),
        reap_orphans=False,  # never make the pytest process a subreaper
        forward_signals=(),  # nor take over its SIGINT
        **kw,
    )


def _state(path):
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


class _Recorder:
    method = "fake"

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.calls: list[bool] = []

    async def trigger(self) -> None:
        self.calls.append(self.sup.ready)


async def test_restart_child_and_stop(tmp_path):
    state = tmp_path / "s.json"
    sup = Supervisor(_opts(state, "--ready-after-ms", "200"), readiness_probe=None)
    task = asyncio.ensure_future(sup.run())
    try:
        await asyncio.wait_for(sup.wait_ready(), 15)
        first = sup.pid
        assert first is not None
        gated = ReadyGatedReload(_Recorder(sup), sup)
        await asyncio.wait_for(gated.trigger(), 5)
        assert gated.inner.calls == [True]
        await asyncio.wait_for(RestartReload(sup).trigger(), 20)
        assert sup.pid not in (None, first)
        assert sup.ready and sup.restarts == 1
        await wait_until(lambda: (_state(state) or {}).get("pid") == sup.pid, 15)
        sup.stop()
        assert await asyncio.wait_for(task, 20) == 0
    finally:
        task.cancel()


async def test_ready_gated_reload_waits_for_readiness(tmp_path):
    state = tmp_path / "s.json"
    ready = asyncio.Event()

    async def probe() -> bool:  # the state file exists once the service handles SIGTERM
        return ready.is_set() and state.exists()

    sup = Supervisor(_opts(state), readiness_probe=probe)
    task = asyncio.ensure_future(sup.run())
    try:
        await asyncio.wait_for(sup.started.wait(), 15)
        rec = _Recorder(sup)
        pending = asyncio.ensure_future(ReadyGatedReload(rec, sup).trigger())
        await asyncio.sleep(0.3)  # the trigger must still be waiting: nothing may be sent yet
        assert rec.calls == [] and not pending.done()
        ready.set()
        await asyncio.wait_for(pending, 10)
        assert rec.calls == [True]
        sup.stop()
        assert await asyncio.wait_for(task, 20) == 0
    finally:
        task.cancel()


async def test_cancelling_run_stops_the_child(tmp_path):
    state = tmp_path / "s.json"
    sup = Supervisor(_opts(state))
    task = asyncio.ensure_future(sup.run())
    await asyncio.wait_for(sup.wait_ready(), 15)
    pid = sup.pid
    assert pid is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped, not left behind


async def test_restart_reload_fails_when_child_gone_for_good(tmp_path):
    state = tmp_path / "s.json"
    sup = Supervisor(_opts(state, "--exit-after-ms", "300"))
    task = asyncio.ensure_future(sup.run())
    await asyncio.wait_for(sup.started.wait(), 15)
    assert await asyncio.wait_for(task, 20) == 0
    with pytest.raises(TargetNotFound):
        await asyncio.wait_for(RestartReload(sup).trigger(), 5)
