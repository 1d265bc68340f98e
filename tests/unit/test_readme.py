"""README.md is the front page generated from docs/ (docs/build_readme.py) and must not drift."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_readme", ROOT / "docs" / "build_readme.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_is_built_from_the_docs() -> None:
    assert (ROOT / "README.md").read_text() == _builder().build(), (
        "README.md is stale: run `python docs/build_readme.py` after editing docs/"
    )


def test_readme_is_a_front_page_that_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 400, "the README is a front page: move details into docs/"
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in readme, f"docs/{page.name} is not linked from the README"
    assert "](LICENSE)" in readme and (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    # One example per subcommand, each the block its page marks (or the page's first block).
    for command in ("watch", "condition", "cpu-features", "run"):
        assert re.search(rf"^### `config-reloader {command}`\n\n```", readme, re.M), command


def test_readme_quick_start_matches_ci() -> None:
    """The README's test command is exactly what .ci/run runs."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = next(
        line for line in readme.splitlines() if "python -m pytest" in line and line.startswith("apt-get")
    )
    assert test_cmd.strip() in ci
