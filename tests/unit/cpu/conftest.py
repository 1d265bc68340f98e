from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cpu_fakes import dumps_dir


@pytest.fixture(scope="session")
def dumps() -> Path:
    return dumps_dir()
