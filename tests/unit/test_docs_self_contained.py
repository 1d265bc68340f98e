"""The repository stands alone: no comment or doc points at notes that a clone does not have, every
rule id a comment cites is defined in docs/design.md, and every relative link in the docs resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("src", "docs", "tests", "bench", "deploy", ".ci")

# Citations of things outside the repository: design notes, research notes, the tracker's issue
# numbers, bug ids of those notes. Upstream bugs stay citable as owner/repo#N (public, permanent).
_OUTSIDE = re.compile(
    r"\.\./shared|\bDESIGN(\.md| §)|\bresearch/|reloader-anchors|python-watch-libs|operator-slot\.md"
    r"|\bissue \d+|\bbugs? B\d+|\(B\d+\)|(?<![\w/.-])#\d{3,}\b|\bPO#\d"
)
_RULE_REF = re.compile(r"\b(?:rules?|budget) ([RCB]\d+)(?:(?: and |-|–)([RCB]?\d+))?")


def _files() -> list[Path]:
    out = [ROOT / "README.md"]
    for top in SCANNED:
        out += [p for p in (ROOT / top).rglob("*") if p.is_file() and p.suffix in {".py", ".md", ".sh", ""}]
    generated = ("__pycache__", ".egg-info")
    return [
        p
        for p in out
        if not any(part.endswith(generated) for part in p.parts) and p != Path(__file__).resolve()
    ]


def _defined_rules() -> set[str]:
    return set(re.findall(r"^\*\*([RCB]\d+)\. ", (ROOT / "docs" / "design.md").read_text(), re.M))


def test_nothing_cites_notes_outside_the_repository() -> None:
    hits = []
    for path in _files():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "state the fact, or point into docs/ (docs/design.md):\n" + "\n".join(hits)


def test_cited_rule_ids_exist_in_design_md() -> None:
    defined = _defined_rules()
    assert {"R1", "R9", "C1", "C6", "B1"} <= defined
    missing = []
    for path in _files():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for m in _RULE_REF.finditer(line):
                first, last = m.group(1), m.group(2)
                ids = [first]
                if last and ("-" in m.group(0) or "–" in m.group(0)):
                    ids = [f"{first[0]}{i}" for i in range(int(first[1:]), int(last.lstrip("RCB")) + 1)]
                elif last:
                    ids.append(last if last[0] in "RCB" else first[0] + last)
                missing += [f"{path.relative_to(ROOT)}:{n}: {i}" for i in ids if i not in defined]
    assert not missing, "rule ids not defined in docs/design.md:\n" + "\n".join(missing)


def test_relative_links_in_the_docs_resolve() -> None:
    broken = []
    # docs/readme/ holds README fragments: their links are relative to the repository root.
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (page.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)


def test_every_module_design_md_names_exists() -> None:
    """A newcomer goes from a rule to its code in one step: every path design.md names exists."""
    # prose only: the pictures abbreviate paths inside a package
    text = re.sub(r"```.*?```", "", (ROOT / "docs" / "design.md").read_text(), flags=re.S)
    pkg = ROOT / "src" / "config_reloader"
    named = set(re.findall(r"(?<![\w/.])((?:[a-z_]+/)*[a-z_]+\.py|[a-z_]+/)(?![\w/])", text))
    assert len(named) > 30
    missing = sorted(
        n for n in named if not any((base / n).exists() for base in (pkg, ROOT, ROOT / "tests" / "support"))
    )
    assert not missing, f"docs/design.md names modules that do not exist: {missing}"
