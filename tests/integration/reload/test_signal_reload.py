"""SignalReload with real child processes and real signals."""

# Child set-up (Popen, marker files) is deliberately blocking and short; the code under test is async.
# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import childproc
import pytest

from config_reloader.errors import ReloadTimeout, TargetNotFound, TargetNotReady
from config_reloader.reload.signal import (
    PidFile,
    ProcessName,
    SignalReload,
    find_processes,
    signal_disposition,
)

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    marker, mode = sys.argv[1], sys.argv[2]

    def on_hup(signum, frame):
        with open(marker, "a") as f:
            f.write("hup\\n")

    if mode == "late":                       # install the handler only once told to
        open(marker + ".started", "w").close()
        while not os.path.exists(marker + ".go"):
            time.sleep(0.01)
    if mode in ("handler", "late"):
        signal.signal(signal.SIGHUP, on_hup)
    open(marker + ".ready", "w").close()     # handler (if any) is installed now
    while True:
        time.sleep(0.05)
    """
)


def wait(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def await_until(pred: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not pred():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Children:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.script = tmp / "child.py"
        self.script.write_text(CHILD)

    def start(
        self, mode: str, *, exe: str = sys.executable, name: str = "c", env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        marker = self.tmp / f"{name}-{len(self.procs)}.marker"
        p = childproc.popen([exe, str(self.script), str(marker), mode], env=env)
        self.procs.append(p)
        ready = Path(str(marker) + (".started" if mode == "late" else ".ready"))
        wait(lambda: ready.exists() or p.poll() is not None, what=f"{ready} or exit")
        assert p.poll() is None, f"child exited with {p.returncode}"
        return p, marker

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    c = Children(tmp_path)
    yield c
    c.close()


def boot_ticks() -> float:
    return float(Path("/proc/uptime").read_text().split()[0]) * os.sysconf("SC_CLK_TCK")


def hups(marker: Path) -> int:
    return marker.read_text().count("hup") if marker.exists() else 0


async def test_callable_source_signals_child_with_handler(children: Children) -> None:
    p, marker = children.start("handler")
    action = SignalReload(signal=signal.SIGHUP, target=lambda: p.pid, timeout=5)
    assert action.method == "signal"
    assert signal_disposition(p.pid, signal.SIGHUP) == "caught"
    await action.trigger()
    await await_until(lambda: hups(marker) == 1, what="first SIGHUP handled")
    await action.trigger()
    await await_until(lambda: hups(marker) == 2, what="second SIGHUP handled")
    assert p.poll() is None


async def test_ready_gate_keeps_signal_from_child_without_handler_yet(children: Children) -> None:
    p, marker = children.start("late")
    ready_file = Path(str(marker) + ".ready")

    async def ready() -> bool:
        return ready_file.exists()

    action = SignalReload(
        signal=signal.SIGHUP, target=lambda: p.pid, timeout=5, ready=ready, require_handler=False
    )
    with pytest.raises(TargetNotReady, match="not ready"):
        await action.trigger()
    assert p.poll() is None  # the default SIGHUP action would have killed it
    Path(str(marker) + ".go").touch()
    await await_until(ready_file.exists, what="child installs handler")
    await action.trigger()
    await await_until(lambda: hups(marker) == 1, what="SIGHUP handled after ready")


async def test_handler_check_refuses_to_kill_a_process_without_handler(children: Children) -> None:
    p, _ = children.start("none")
    assert signal_disposition(p.pid, signal.SIGHUP) == "default"
    action = SignalReload(signal=signal.SIGHUP, target=lambda: p.pid, timeout=5)
    with pytest.raises(TargetNotReady, match="SigCgt"):
        await action.trigger()
    assert p.poll() is None
    # a signal whose default action is harmless is not gated
    await SignalReload(signal=signal.SIGWINCH, target=lambda: p.pid, timeout=5).trigger()
    assert p.poll() is None


async def test_ready_gate_that_raises_is_not_ready(children: Children) -> None:
    p, marker = children.start("handler")

    async def broken() -> bool:
        raise OSError("gate exploded")

    action = SignalReload(signal=signal.SIGHUP, target=lambda: p.pid, timeout=5, ready=broken)
    with pytest.raises(TargetNotReady, match="gate exploded"):
        await action.trigger()
    assert hups(marker) == 0


async def test_ready_gate_that_hangs_times_out(children: Children) -> None:
    p, _ = children.start("handler")

    async def never() -> bool:
        await asyncio.sleep(60)
        return True

    action = SignalReload(signal=signal.SIGHUP, target=lambda: p.pid, timeout=0.2, ready=never)
    with pytest.raises(ReloadTimeout):
        await action.trigger()


@pytest.mark.parametrize("pid", [None, 0, 1, -1, "self"])
async def test_never_signals_special_pids(pid: int | str | None) -> None:
    value = os.getpid() if pid == "self" else pid
    action = SignalReload(signal=signal.SIGHUP, target=lambda: value, timeout=5, require_handler=False)  # type: ignore[return-value,arg-type]
    with pytest.raises(TargetNotFound):
        await action.trigger()


async def test_pid_file_cases(children: Children, tmp_path: Path) -> None:
    pidfile = tmp_path / "prometheus.pid"
    action = SignalReload(signal=signal.SIGHUP, target=PidFile(str(pidfile)), timeout=5)
    with pytest.raises(TargetNotFound, match="does not exist"):
        await action.trigger()
    pidfile.write_text("garbage\n")
    with pytest.raises(TargetNotFound, match="does not hold a pid"):
        await action.trigger()
    pidfile.write_text("")
    with pytest.raises(TargetNotFound, match="does not hold a pid"):
        await action.trigger()
    gone = childproc.popen(["true"])
    gone.wait()
    pidfile.write_text(f"{gone.pid}\n")
    with pytest.raises(TargetNotFound, match="stale"):
        await action.trigger()
    p, marker = children.start("handler")
    pidfile.write_text(f"{p.pid}\n")
    await action.trigger()
    await await_until(lambda: hups(marker) == 1, what="SIGHUP via pid file")


async def test_pid_file_naming_a_zombie_is_stale(tmp_path: Path) -> None:
    z = childproc.popen(["true"])
    try:
        wait(
            lambda: Path(f"/proc/{z.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z",
            what="zombie",
        )
        pidfile = tmp_path / "x.pid"
        pidfile.write_text(str(z.pid))
        action = SignalReload(signal=signal.SIGHUP, target=PidFile(str(pidfile)), timeout=5)
        with pytest.raises(TargetNotFound, match="exited"):
            await action.trigger()
    finally:
        z.wait()


def fake_exe(tmp_path: Path, name: str) -> tuple[str, dict[str, str]]:
    """A copy of the Python interpreter under another name (comm and exe basename = name)."""
    exe = tmp_path / name
    shutil.copy2(os.path.realpath(sys.executable), exe)
    env = dict(os.environ, PYTHONHOME=sys.base_prefix)
    return str(exe), env


async def test_process_name_finds_renamed_child(children: Children, tmp_path: Path) -> None:
    exe, env = fake_exe(tmp_path, "fake-prometheus")  # exactly 15 characters: the whole comm
    p, marker = children.start("handler", exe=exe, env=env)
    assert Path(f"/proc/{p.pid}/comm").read_text().strip() == "fake-prometheus"
    action = SignalReload(signal=signal.SIGHUP, target=ProcessName("fake-prometheus"), timeout=5)
    await action.trigger()
    assert action.last_pid == p.pid
    await await_until(lambda: hups(marker) == 1, what="SIGHUP by process name")


async def test_process_name_longer_than_comm_matches_exe(children: Children, tmp_path: Path) -> None:
    name = "fake-prometheus-server-long"
    exe, env = fake_exe(tmp_path, name)
    p, marker = children.start("handler", exe=exe, env=env)
    assert Path(f"/proc/{p.pid}/comm").read_text().strip() == name[:15]
    pids, scanned = find_processes(name)
    assert pids == [p.pid] and scanned > 1
    action = SignalReload(signal=signal.SIGHUP, target=ProcessName(name), timeout=5)
    await action.trigger()
    await await_until(lambda: hups(marker) == 1, what="SIGHUP by long name")


async def test_process_name_picks_oldest_deterministically(children: Children, tmp_path: Path) -> None:
    exe, env = fake_exe(tmp_path, "fake-prom-dup")
    first, m1 = children.start("handler", exe=exe, env=env)
    # start times are in clock ticks since boot: start the second one in a strictly later tick
    first_start = int(Path(f"/proc/{first.pid}/stat").read_text().rpartition(")")[2].split()[19])
    wait(lambda: boot_ticks() > first_start + 1, what="next clock tick")
    second, m2 = children.start("handler", exe=exe, env=env)
    assert find_processes("fake-prom-dup")[0] == [first.pid, second.pid]
    action = SignalReload(signal=signal.SIGHUP, target=ProcessName("fake-prom-dup"), timeout=5)
    await action.trigger()
    await await_until(lambda: hups(m1) == 1, what="oldest signalled")
    assert hups(m2) == 0


async def test_process_name_sleep_copy_found_but_not_signalled_without_handler(
    children: Children, tmp_path: Path
) -> None:
    exe = tmp_path / "fake-sleeper"
    shutil.copy2("/bin/sleep", exe)
    p = childproc.popen([str(exe), "60"])
    children.procs.append(p)
    wait(lambda: find_processes("fake-sleeper")[0] == [p.pid], what="sleep copy visible")
    action = SignalReload(signal=signal.SIGHUP, target=ProcessName("fake-sleeper"), timeout=5)
    with pytest.raises(TargetNotReady, match=str(p.pid)):
        await action.trigger()
    assert p.poll() is None


async def test_process_name_not_found_says_what_was_searched() -> None:
    action = SignalReload(signal=signal.SIGHUP, target=ProcessName("no-such-prometheus-xyz"), timeout=5)
    with pytest.raises(TargetNotFound) as err:
        await action.trigger()
    msg = str(err.value)
    assert "no-such-prometheus-xyz" in msg and "/proc/*/comm" in msg and "/proc/*/exe" in msg
    assert "shareProcessNamespace" in msg


def test_fake_proc_root_comm_and_exe(tmp_path: Path) -> None:
    def proc(pid: int, comm: str, exe: str | None, state: str = "S", start: int = 100) -> None:
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "comm").write_text(comm + "\n")
        if exe:
            (d / "exe").symlink_to(exe)
        (d / "stat").write_text(f"{pid} ({comm}) {state} " + " ".join(["0"] * 18) + f" {start} 0 0\n")

    proc(10, "prometheus", "/usr/bin/prometheus", start=500)
    proc(11, "prometheus", None, start=200)  # exe unreadable: comm decides
    proc(12, "prometheus", "/usr/bin/prometheus", state="Z", start=1)  # zombie: skipped
    proc(13, "bash", "/bin/bash")
    proc(14, "x) Z (y", "/opt/prometheus", start=300)  # parentheses in comm do not confuse stat parsing
    (tmp_path / "self").mkdir()
    assert find_processes("prometheus", str(tmp_path)) == ([11, 14, 10], 5)
    assert find_processes("bash", str(tmp_path))[0] == [13]
    assert find_processes("nope", str(tmp_path))[0] == []


def test_signal_disposition_parses_masks(tmp_path: Path) -> None:
    d = tmp_path / "42"
    d.mkdir()
    (d / "status").write_text(
        "Name:\tx\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000004\nSigCgt:\t0000000000000001\n"
    )
    assert signal_disposition(42, signal.SIGHUP, str(tmp_path)) == "caught"  # bit 0
    assert signal_disposition(42, signal.SIGQUIT, str(tmp_path)) == "ignored"  # bit 2
    assert signal_disposition(42, signal.SIGTERM, str(tmp_path)) == "default"
    assert signal_disposition(43, signal.SIGHUP, str(tmp_path)) is None


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        SignalReload(signal=999, target=lambda: 5, timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        SignalReload(signal=signal.SIGHUP, target=lambda: 5, timeout=0)
    with pytest.raises(ValueError, match="basename"):
        ProcessName("/usr/bin/prometheus")


async def test_process_match_all_and_single(children: Children, tmp_path: Path) -> None:
    """Several processes with the name: --process-match=all signals each, single refuses."""
    exe, env = fake_exe(tmp_path, "fake-prom-many")
    _, m1 = children.start("handler", exe=exe, env=env)
    _, m2 = children.start("handler", exe=exe, env=env)
    single = SignalReload(
        signal=signal.SIGHUP, target=ProcessName("fake-prom-many", match="single"), timeout=5
    )
    with pytest.raises(TargetNotFound, match=r"2 processes named 'fake-prom-many'.*--process-match"):
        await single.trigger()
    assert hups(m1) == hups(m2) == 0
    every = SignalReload(signal=signal.SIGHUP, target=ProcessName("fake-prom-many", match="all"), timeout=5)
    await every.trigger()
    await await_until(lambda: hups(m1) == 1 and hups(m2) == 1, what="both signalled")
    with pytest.raises(ValueError, match="process match"):
        ProcessName("x", match="first")


def test_pid_file_that_is_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    # The pid file is read on the event loop's thread: a blocking open there would stall the loop
    # and its signal handling (SIGTERM did not end `watch`). Run on a thread of its own, so that
    # a regression fails this test instead of hanging it.
    fifo = tmp_path / "prometheus.pid"
    os.mkfifo(fifo)
    for path, kind in ((str(fifo), "a FIFO"), ("/dev/zero", "a character device")):
        action = SignalReload(signal=signal.SIGHUP, target=PidFile(path), timeout=5)
        box: list[BaseException | None] = []

        def target(action: SignalReload = action, box: list[BaseException | None] = box) -> None:
            try:
                asyncio.run(action.trigger())
            except BaseException as exc:  # handed to the test
                box.append(exc)
            else:
                box.append(None)

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), f"reading the pid file {path} blocked"
        assert isinstance(box[0], TargetNotFound)
        assert f"pid file {path} is {kind}, not a regular file" in str(box[0])
