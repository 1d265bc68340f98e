"""Suite-wide set-up: ``tests/support`` on ``sys.path`` (``childproc``: how tests start processes)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))
