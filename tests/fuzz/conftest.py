"""Prints how many inputs each fuzz target tried (see fuzz_budget.py)."""

from __future__ import annotations

from typing import Any

import pytest


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    try:
        from fuzz_budget import BUDGET, TRIED
    except ImportError:  # no fuzz test was collected
        return
    if not TRIED:
        return
    terminalreporter.write_sep("-", f"fuzz ({BUDGET} budget): {sum(TRIED.values())} inputs tried")
    for target, n in sorted(TRIED.items()):
        terminalreporter.write_line(f"  {target}: {n}")
