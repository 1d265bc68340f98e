"""Assemble README.md, the front page, from docs/readme/head.md, one example per subcommand taken
from the manual pages, the latest benchmark figures, a list of every page in docs/ and
docs/readme/tail.md. Also writes docs/api.md (docs/build_api.py).

The pages in docs/ are the sources (tests run their examples and parse their command lines); the
README only shows one example of each command and links to the pages. An example is the fenced
block that follows a ``<!-- readme-example -->`` line in its page, or else the page's first fenced
block. Edit the pages, then run ``python docs/build_readme.py``; ``tests/unit/test_readme.py`` fails
when README.md is stale, and ``tests/unit/test_api_doc.py`` when docs/api.md is.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
README = DOCS.parent / "README.md"
MARKER = "<!-- readme-example -->"

# (command, page its example comes from, page that documents the command)
EXAMPLES = (
    ("watch", "watch", "watch"),
    ("condition", "conditions", "conditions"),
    ("cpu-features", "cpu-features", "cpu-features"),
    ("run", "deploy", "run"),
)

# What each page is for, in the README's list; a page missing here is listed under its title.
DESCRIPTIONS = {
    "watch": "the reloader: flags, how it decides to reload, metrics, logs, migrating, library use",
    "conditions": "`condition`: syntax, every condition type, recipes, differences from systemd",
    "cpu-features": "`cpu-features`: the three views, names, backends, captures",
    "run": "`run`: gate, pin, supervise and reload one command; container entrypoint; systemd",
    "deploy": "images, Kubernetes manifests (sidecar, signal reload, entrypoint), systemd units",
    "operator": "prometheus-operator, kube-prometheus-stack: the reloader image, measured in its slot",
    "benchmarks": "every figure, how to reproduce it, what each measure means",
    "design": "how the parts fit: data flow, the rules of the domain and the module for each",
    "api": "library API reference, generated from the docstrings",
    "watch-internals": "from inotify events to content digests, in detail",
    "INTERFACES": "the seams between the parts: types and signatures",
    "DEPENDENCIES": "why each dependency, with its measured cost",
    "CONTRIBUTING": "standards, commands, how the suite is run and kept honest",
    "security": "threat model, input bounds, secret redaction, least privilege",
}
# Reading order of the list; pages not named here follow in name order.
ORDER = ("watch", "conditions", "cpu-features", "run", "deploy", "benchmarks", "design", "api")


def _title(page: str) -> str:
    first = page.splitlines()[0] if page else ""
    if not first.startswith("# "):
        raise ValueError("a manual page must start with a '# ' title")
    return first[2:].strip()


def example(page: str) -> str:
    """The fenced block after MARKER, or the first fenced block of the page."""
    start = page.index(MARKER) if MARKER in page else 0
    m = re.compile(r"^```[^\n]*\n.*?^```$", re.M | re.S).search(page, start)
    if m is None:
        raise ValueError("no fenced example block")
    return m.group(0)


def section(page: str, heading: str) -> str:
    """The body of the ``## heading`` section, its sub-headings demoted one level."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page, re.M | re.S)
    if m is None:
        raise ValueError(f"no '## {heading}' section")
    body, fence = [], False
    for line in m.group(1).strip().splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence and re.match(r"#{3,5} ", line):
            line = "#" + line
        body.append(line)
    return "\n".join(body) + "\n"


def _pages() -> list[str]:
    names = sorted(p.stem for p in DOCS.glob("*.md"))
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


def build() -> str:
    """The README text."""
    read = {name: (DOCS / f"{name}.md").read_text() for name in _pages()}
    parts = [(DOCS / "readme" / "head.md").read_text().rstrip() + "\n"]
    parts.append("## One example per command\n")
    for command, source, page in EXAMPLES:
        parts.append(
            f"### `config-reloader {command}`\n\n{example(read[source])}\n\n"
            f"More: [docs/{page}.md](docs/{page}.md).\n"
        )
    parts.append(
        "## Benchmarks\n\n"
        + section(read["benchmarks"], "Latest figures")
        + "\nHow to reproduce them and what each measure means: "
        "[docs/benchmarks.md](docs/benchmarks.md).\n"
    )
    parts.append("## Documentation\n")
    parts.append(
        "\n".join(f"- [docs/{n}.md](docs/{n}.md): {DESCRIPTIONS.get(n, _title(read[n]))}" for n in read)
        + "\n"
    )
    parts.append((DOCS / "readme" / "tail.md").read_text().rstrip() + "\n")
    return "\n".join(parts)


def _build_api() -> str:
    spec = importlib.util.spec_from_file_location("build_api", DOCS / "build_api.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text: str = mod.build()
    return text


if __name__ == "__main__":
    (DOCS / "api.md").write_text(_build_api())
    README.write_text(build())
    sys.exit(0)
