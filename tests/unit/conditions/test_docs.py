"""docs/conditions.md stays true: its Python example runs, its command lines parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from config_reloader.cli import build_parser

DOC = Path(__file__).resolve().parents[3] / "docs" / "conditions.md"


def _text() -> str:
    if not DOC.exists():
        pytest.skip("docs/conditions.md not present")
    return DOC.read_text()


def test_library_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", _text(), flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), {})


def test_command_lines_parse() -> None:
    commands = []
    code_lines = [ln for block in re.findall(r"```(?:console|sh|ini)\n(.*?)```", _text(), flags=re.S)
                  for ln in block.splitlines()]  # fmt: skip
    for line in code_lines:
        _, found, rest = line.partition("config-reloader ")
        if not found:
            continue
        rest = re.split(r";|\||>&|\)|\\$", rest)[0]
        commands.append(shlex.split(rest))
    assert len(commands) >= 5
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)
