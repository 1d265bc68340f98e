"""README.md is assembled from the manual pages in docs/ and must not drift from them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_is_built_from_the_docs() -> None:
    spec = importlib.util.spec_from_file_location("build_readme", ROOT / "docs" / "build_readme.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (ROOT / "README.md").read_text() == mod.build(), (
        "README.md is stale: run `python docs/build_readme.py` after editing docs/"
    )


def test_readme_quick_start_matches_ci() -> None:
    """The README's test command is exactly what .ci/run runs."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = next(
        line for line in readme.splitlines() if "python -m pytest" in line and line.startswith("apt-get")
    )
    assert test_cmd.strip() in ci
