"""Fixture ``harness``: see watch_harness.py."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

# The harness module sits next to this file; do not depend on pytest's import mode to find it.
sys.path.insert(0, os.path.dirname(__file__))

from watch_harness import Harness


@pytest.fixture
async def harness() -> AsyncIterator[Callable[..., Any]]:
    started: list[Harness] = []

    async def make(files: Sequence[Path] = (), dirs: Sequence[Path] = (), **kw: Any) -> Harness:
        h = Harness(files, dirs, **kw)
        started.append(h)
        await h.start()
        return h

    yield make
    for h in started:
        await h.stop()
