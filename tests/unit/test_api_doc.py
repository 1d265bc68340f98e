"""docs/api.md is generated from the docstrings of the public API and must not drift from them."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_md_matches_the_docstrings() -> None:
    assert (ROOT / "docs" / "api.md").read_text() == _builder().build(), (
        "docs/api.md is stale: run `python docs/build_readme.py` after changing a public docstring "
        "or signature"
    )


def test_every_public_name_is_documented() -> None:
    api = (ROOT / "docs" / "api.md").read_text()
    for modname, _ in _builder().MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None) or [
            n for n, v in vars(mod).items() if isinstance(v, type) and v.__module__ == modname
        ]
        for name in names:
            # the errors module is shown as its exception tree, everything else under a heading
            shown = f"- `{name}`: " if modname.endswith(".errors") else f"### `{modname}.{name}`"
            assert shown in api, f"{modname}.{name} missing from docs/api.md"
