"""The fuzz suite's pytest hooks: no per-test timeout under the long budget, and a summary of how
many inputs each target tried (see fuzz_budget.py)."""

from __future__ import annotations

import os
from typing import Any

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The suite's 120 s per-test timeout fits the CI budget; a long run is bounded by its budget.
    if os.environ.get("FUZZ_BUDGET") == "long":
        for item in items:
            if "tests/fuzz/" in item.nodeid.replace(os.sep, "/"):
                item.add_marker(pytest.mark.timeout(0))


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
