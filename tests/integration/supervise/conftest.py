"""Fixtures for ``config-reloader run`` tests (helpers in supervise_helpers.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import childproc
import pytest
from supervise_helpers import RunProc, run_argv, service_cmd

from config_reloader.testing import kill_run


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[Callable[..., RunProc]]:
    procs: list[RunProc] = []

    def start(
        *run_args: str,
        service: Sequence[str] = (),
        command: Sequence[str] | None = None,
        prefix: Sequence[str] = (),
        state: Path | None = None,
    ) -> RunProc:
        st = state or tmp_path / f"state{len(procs)}.json"
        log_path = tmp_path / f"run{len(procs)}.log"
        cmd = list(command) if command is not None else service_cmd(st, *service)
        with open(log_path, "wb") as logf:
            proc = childproc.popen(
                [*prefix, *run_argv(run_args, cmd)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=str(tmp_path),
                start_new_session=True,  # a group we can kill as a whole at teardown
            )
        rp = RunProc(proc, st, log_path)
        procs.append(rp)
        return rp

    yield start
    for rp in procs:
        if rp.proc.poll() is None:
            kill_run(rp.proc.pid)  # run's child has a session of its own
            rp.proc.wait(10)
