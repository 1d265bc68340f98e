"""Shared helpers of the benchmark harness: statistics, /proc readings, processes, writers.

Time stamps are ``time.monotonic_ns()`` (CLOCK_MONOTONIC), which is shared by all processes on one
machine, so a writer in the harness and an event stamped in a peer process can be subtracted.
Durations in results are float **milliseconds** unless a name says otherwise (``_s`` = seconds).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BENCH_DIR",
    "REPO_DIR",
    "Cell",
    "ProcStats",
    "Result",
    "atomic_replace",
    "free_port",
    "kubelet_writer",
    "machine_description",
    "median",
    "now_ns",
    "p99",
    "proc_stats",
    "reloader_argv",
    "reloader_available",
    "spawn",
    "stop",
    "wait_until",
    "write_in_place",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def now_ns() -> int:
    """CLOCK_MONOTONIC in nanoseconds (comparable across processes on this machine)."""
    return time.monotonic_ns()


def median(xs: Sequence[float]) -> float | None:
    """Median of ``xs``, None when empty."""
    return statistics.median(xs) if xs else None


def p99(xs: Sequence[float]) -> float | None:
    """99th percentile (nearest rank) of ``xs``, None when empty. With fewer than 100 samples
    this is the maximum, which is what a reader should assume of small runs."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(0.99 * len(s) + 0.5) - 1))
    return s[k]


@dataclass
class Cell:
    """One row of the result table: one tool under one measure."""

    measure: str  # e.g. "latency/atomic, delay 0"
    tool: str  # "config-reloader", "inotifywait", ...
    unit: str  # "ms", "s", "MiB", "count"
    values: list[float] = field(default_factory=list)
    note: str = ""
    reference: bool = False  # the peer other rows of the same measure are compared to
    extra: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def med(self) -> float | None:
        return median(self.values)

    @property
    def p99(self) -> float | None:
        return p99(self.values)


@dataclass
class Result:
    """All cells of one measure plus the commands that produced them (for RESULTS.md)."""

    name: str
    cells: list[Cell] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- machine


def machine_description() -> dict[str, str]:
    """CPU model, logical CPUs (online and usable by us), memory, kernel, Python, tool versions."""
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_gib = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    load = "?"
    with contextlib.suppress(OSError):
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "not installed"
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else "?"

    def pyver(mod: str) -> str:
        try:
            from importlib.metadata import version as v

            return v(mod)
        except Exception:
            return "not installed"

    sysctls = {}
    for name in ("max_user_watches", "max_user_instances", "max_queued_events"):
        with contextlib.suppress(OSError):
            sysctls[name] = Path(f"/proc/sys/fs/inotify/{name}").read_text().strip()
    return {
        "cpu": model,
        "cpus": f"{os.cpu_count()} online, {len(os.sched_getaffinity(0))} usable",
        "memory": mem_gib,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load average at start": load,
        "inotify sysctls": ", ".join(f"{k}={v}" for k, v in sysctls.items()),
        "inotifywait": version(["inotifywait", "--help"]).replace("\n", " "),
        "systemd": version(["systemd-analyze", "--version"]),
        "hyperfine": version(["hyperfine", "--version"]),
        "watchfiles": pyver("watchfiles"),
        "watchdog": pyver("watchdog"),
        "config-reloader": pyver("config-reloader") + f" (git {_git_head()})",
    }


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


# ------------------------------------------------------------------------------------------ /proc


@dataclass(frozen=True)
class ProcStats:
    """One reading of a process from /proc (all its threads).

    cpu_s: user + system CPU seconds; rss_mib: VmRSS in MiB; voluntary / involuntary: context
    switches summed over every thread in /proc/PID/task (a wake-up of any thread counts);
    fds: open file descriptors; threads: number of tasks.
    """

    cpu_s: float
    rss_mib: float
    voluntary: int
    involuntary: int
    fds: int
    threads: int


def proc_stats(pid: int) -> ProcStats:
    """Read CPU, RSS, context switches, fds and threads of ``pid`` (and its threads).

    Raises:
        ProcessLookupError: the process is gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (proc(5) fields 14, 15)
        rss_mib = 0.0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_mib = int(line.split()[1]) / 1024
        vol = invol = threads = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/task/{task}/status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol += int(line.split()[1])
                threads += 1
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError as exc:
        raise ProcessLookupError(pid) from exc
    return ProcStats(cpu_s, rss_mib, vol, invol, fds, threads)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` plus its live children (for shell wrappers)."""
    total = proc_stats(pid).cpu_s
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            for c in children:
                with contextlib.suppress(ProcessLookupError):
                    total += tree_cpu_s(int(c))
    return total


# -------------------------------------------------------------------------------------- processes


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound to 0 and released; a small race is acceptable here)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(
    argv: Sequence[str],
    *,
    stdout: int | None = subprocess.DEVNULL,
    stderr: int | None = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
    text: bool = False,
) -> subprocess.Popen[str]:
    """Start a process in its own process group (so ``stop`` can end it and its children)."""
    return subprocess.Popen(
        list(argv),
        stdout=stdout,
        stderr=stderr,
        env=dict(env) if env else None,
        start_new_session=True,
        text=True if text else None,
    )  # type: ignore[call-overload,no-any-return]


def stop(proc: subprocess.Popen[str], timeout: float = 5.0) -> None:
    """SIGTERM the process group, wait ``timeout`` seconds, then SIGKILL it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def wait_until(pred: Callable[[], object], timeout: float, interval: float = 0.002) -> bool:
    """Poll ``pred`` until truthy or ``timeout`` seconds pass; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def reloader_argv() -> list[str]:
    """How to start our CLI: the console script beside this interpreter (a venv's ``bin/``, whether
    or not the venv is activated), else the one on PATH, else ``python -m config_reloader``."""
    beside = os.path.join(os.path.dirname(sys.executable), "config-reloader")
    exe = beside if os.access(beside, os.X_OK) else shutil.which("config-reloader")
    return [exe] if exe else [sys.executable, "-m", "config_reloader"]


def reloader_available() -> tuple[bool, str]:
    """Whether ``config-reloader watch`` is implemented in this checkout (it may still be a stub)."""
    try:
        out = subprocess.run(
            [*reloader_argv(), "watch", "--help"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if out.returncode != 0 or "--reload-url" not in out.stdout:
        return False, "config-reloader watch is not implemented in this checkout yet"
    return True, ""


@contextlib.contextmanager
def cd_tmp(prefix: str) -> Iterator[Path]:
    """A fresh temp dir on the same filesystem as /tmp, removed afterwards."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix=f"crbench-{prefix}-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------- writers
# The project's own helpers (config_reloader.testing) are used when they exist; the fallbacks below
# follow the same recipes (rule R6 in docs/design.md; kubelet's AtomicWriter) so the harness also runs
# against peers before the engine lands.


def atomic_replace(path: str, data: bytes) -> None:
    """Temp file in the same dir, write, fsync, rename over ``path``, fsync the dir."""
    try:
        from config_reloader.testing import atomic_replace as impl  # type: ignore[attr-defined]
    except ImportError:
        impl = None
    if impl is not None:
        impl(path, data)
        return
    d = os.path.dirname(path)
    tmp = os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_in_place(path: str, data: bytes, *, chunks: int = 1, pause: float = 0.0) -> None:
    """open(O_TRUNC), write ``data`` in ``chunks`` pieces with ``pause`` seconds between, close.

    This is the non-atomic writer on purpose: readers can see the empty or partial file.
    """
    try:
        from config_reloader.testing import write_in_place as impl  # type: ignore[attr-defined]
    except ImportError:
        impl = None
    if impl is not None:
        impl(path, data, chunks=chunks, pause=pause)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        step = max(1, -(-len(data) // chunks))
        for i in range(0, len(data), step):
            if i and pause:
                time.sleep(pause)
            os.write(fd, data[i : i + step])
    finally:
        os.close(fd)


class _FallbackKubeletWriter:
    """kubelet AtomicWriter order: ..<ts> dir with the payload, ..data_tmp -> it, rename over ..data,
    user-visible links name -> ..data/name created once, old ts dir removed."""

    def __init__(self, target_dir: str) -> None:
        self.target = target_dir
        self.n = 0

    def write(self, payload: Mapping[str, bytes]) -> None:
        import tempfile

        data_link = os.path.join(self.target, "..data")
        old = os.readlink(data_link) if os.path.islink(data_link) else None
        self.n += 1
        ts = tempfile.mkdtemp(dir=self.target, prefix=time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()))
        os.chmod(ts, 0o755)
        for name, data in payload.items():
            p = os.path.join(ts, name)
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, 0o644)
        tmp_link = os.path.join(self.target, "..data_tmp")
        os.symlink(os.path.basename(ts), tmp_link)
        os.rename(tmp_link, data_link)
        for name in payload:
            user = os.path.join(self.target, name)
            if not os.path.lexists(user):
                os.symlink(os.path.join("..data", name), user)
        if old is not None:
            shutil.rmtree(os.path.join(self.target, old), ignore_errors=True)


def kubelet_writer(target_dir: str) -> tuple[object, str]:
    """Return (writer with ``.write(payload)``, which implementation is used)."""
    try:
        from config_reloader.testing import KubeletAtomicWriter  # type: ignore[attr-defined]
    except ImportError:
        return _FallbackKubeletWriter(target_dir), "bench fallback"
    return KubeletAtomicWriter(target_dir), "config_reloader.testing.KubeletAtomicWriter"
