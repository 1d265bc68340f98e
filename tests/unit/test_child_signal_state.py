"""The processes tests start do not depend on the signal state pytest inherited (``childproc``)."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import childproc
import pytest

TESTS = Path(__file__).resolve().parents[1]

# Not a Python child: the interpreter ignores SIGPIPE and SIGXFSZ itself at start-up.
_STATUS = ["cat", "/proc/self/status"]


def _masks(status: str) -> dict[str, int]:
    """``SigIgn`` / ``SigBlk`` of a ``/proc/PID/status`` text as integers (bit N-1 = signal N)."""
    return {k: int(v, 16) for k, v in re.findall(r"^(SigIgn|SigBlk):\s*([0-9a-f]+)$", status, re.M)}


def _bit(signum: int) -> int:
    return 1 << (signum - 1)


@pytest.fixture
def hostile_parent() -> Iterator[None]:
    """pytest as ``nohup`` plus a background shell job would leave it: SIGHUP, SIGINT, SIGQUIT
    and SIGTERM ignored, SIGUSR1 blocked. Restored afterwards."""
    ignored = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)
    saved = {s: signal.getsignal(s) for s in ignored}
    for s in ignored:
        signal.signal(s, signal.SIG_IGN)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for s, handler in saved.items():
            signal.signal(s, handler)


@pytest.mark.usefixtures("hostile_parent")
def test_a_plain_child_inherits_ignored_signals_and_the_blocked_mask() -> None:
    """The hazard: what exec keeps (this is why tests start children through childproc)."""
    masks = _masks(subprocess.run(_STATUS, capture_output=True, text=True, check=True).stdout)
    assert masks["SigIgn"] & _bit(signal.SIGHUP)
    assert masks["SigIgn"] & _bit(signal.SIGINT)
    assert masks["SigBlk"] & _bit(signal.SIGUSR1)


@pytest.mark.usefixtures("hostile_parent")
@pytest.mark.parametrize("how", ["popen", "run", "exec_async"])
async def test_childproc_children_start_with_default_dispositions_and_nothing_blocked(how: str) -> None:
    calls: list[str] = []
    if how == "popen":
        with childproc.popen(_STATUS, stdout=subprocess.PIPE, text=True) as p:
            out, _ = p.communicate(timeout=60)
    elif how == "run":
        out = childproc.run(
            _STATUS, capture_output=True, text=True, check=True, preexec_fn=lambda: calls.append("x")
        ).stdout
    else:
        proc = await childproc.exec_async(*_STATUS, stdout=subprocess.PIPE)
        out = (await proc.communicate())[0].decode()
    masks = _masks(out)
    for s in childproc.RESET_SIGNALS:
        assert not masks["SigIgn"] & _bit(s), f"{s.name} ignored in the child"
    assert masks["SigBlk"] == 0
    # pytest itself keeps what it inherited: the reset happens in the child only.
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN


def test_pytest_runs_with_no_signal_blocked() -> None:
    """tests/conftest.py empties the blocked mask that pytest inherited (.ci/run starts one run
    with signals blocked): product code run in-process starts children with this mask."""
    assert signal.pthread_sigmask(signal.SIG_BLOCK, ()) == set()


# Files that may start processes without childproc, and why.
_OWN_SPAWNS = {
    "support/childproc.py": "the helper itself",
    # Scripts that run as test children: they inherit the reset state from their parent.
    "support/testservice.py": "a test child (forks its own zombie)",
    "integration/supervise/sigcounter.py": "a test child (starts its own grandchild)",
    # A fork without exec: no new program starts, nothing is inherited across exec.
    "unit/watch/test_lease.py": "fork without exec (drops privileges, probes, exits)",
    "unit/test_child_signal_state.py": "shows the hazard with a plain subprocess.run",
}

_SPAWN = re.compile(
    r"\bsubprocess\.(Popen|run|call|check_call|check_output)\(|\bcreate_subprocess_(exec|shell)\("
    r"|\bos\.(fork|forkpty|posix_spawnp?|system|popen|exec\w*)\(|\bpty\.(fork|spawn)\("
)


def test_every_process_a_test_starts_goes_through_childproc() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        rel = path.relative_to(TESTS).as_posix()
        if rel in _OWN_SPAWNS:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            # Program text handed to a child as a string runs in that (already reset) child.
            if _SPAWN.search(code) and not re.match(r"\s*f?[\"']", code):
                offenders.append(f"tests/{rel}:{n}: {line.strip()}")
    assert not offenders, "start test processes with childproc.popen/run/exec_async:\n" + "\n".join(offenders)


def test_ci_reruns_existing_signal_tests_with_signals_ignored() -> None:
    """.ci/run's step 3 names test paths that exist (a moved file would silently shrink it)."""
    ci = (TESTS.parent / ".ci" / "run").read_text()
    step = ci[ci.index("( trap '' HUP INT QUIT TERM;") :]
    paths = re.findall(r"\btests/[\w/.]+", step[: step.index(" )\n")])
    assert "tests/unit/test_child_signal_state.py" in paths and len(paths) >= 3
    for p in paths:
        assert (TESTS.parent / p).exists(), p
