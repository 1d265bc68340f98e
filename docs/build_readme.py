"""Assemble README.md from docs/readme/head.md, the user manual pages in docs/ (their headings
demoted one level) and docs/readme/tail.md.

The pages in docs/ are the sources (tests run their examples and parse their command lines);
README.md is the one-page view a newcomer reads. Edit the pages, then run
``python docs/build_readme.py``; ``tests/unit/test_readme.py`` fails when README.md is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
README = DOCS.parent / "README.md"

# (page in docs/, section title in the README)
PAGES = (
    ("watch", "watch"),
    ("conditions", "condition"),
    ("cpu-features", "cpu-features"),
    ("run", "run"),
    ("deploy", "Deploy"),
    ("operator", "prometheus-operator"),
    ("benchmarks", "Benchmarks"),
)


def _demote(page: str) -> tuple[str, str]:
    """Return (page title, body with every heading outside code fences one level deeper)."""
    lines = page.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError("a manual page must start with a '# ' title")
    body: list[str] = []
    fence = False
    for line in lines[1:]:
        if line.startswith("```"):
            fence = not fence
        if not fence and re.match(r"#{2,5} ", line):
            line = "#" + line
        body.append(line)
    return lines[0][2:].strip(), "\n".join(body).rstrip() + "\n"


def build() -> str:
    """The README text."""
    parts = [(DOCS / "readme" / "head.md").read_text()]
    for name, title in PAGES:
        page_title, body = _demote((DOCS / f"{name}.md").read_text())
        parts.append(f"## {title}\n\n*{page_title}* (source: [`docs/{name}.md`](docs/{name}.md))\n{body}")
    parts.append((DOCS / "readme" / "tail.md").read_text())
    return "\n".join(parts)


if __name__ == "__main__":
    README.write_text(build())
    sys.exit(0)
