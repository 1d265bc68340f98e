"""Generate docs/api.md, the reference of the library's public API, from the docstrings.

The public API is the ``__all__`` of the modules in :data:`MODULES`. For each name: its signature
and its docstring; for a class also its public methods and properties (those defined by the class
itself), and the fields of a dataclass or of a ``config_reloader.record.record`` class with their
defaults. ``python docs/build_readme.py`` writes
this page along with the README; ``tests/unit/test_api_doc.py`` fails when it drifts from the code.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
API_MD = DOCS / "api.md"

#: (module, one-line description), in the order of the page.
MODULES = (
    ("config_reloader", "the reload engine: watch files, render, reload a service"),
    ("config_reloader.testing", "helpers for tests of your own: writers, a recording reload endpoint"),
    ("config_reloader.conditions", "systemd-style conditions: parse and evaluate"),
    ("config_reloader.cpu", "CPU features per CPU: probe, captures, checks, pin sets"),
    ("config_reloader.errors", "the exception tree"),
)

HEAD = """# Library API reference

Generated from the docstrings by `python docs/build_readme.py` (which runs `docs/build_api.py`);
`tests/unit/test_api_doc.py` fails when this page and the code disagree. Edit the docstrings, not
this page. How the parts fit together: [design.md](design.md); a worked example: [watch.md](watch.md).
"""


def _anno(a: Any) -> str:
    if isinstance(a, str):
        return a
    if isinstance(a, type):
        return a.__qualname__
    return re.sub(r"\btyping\.", "", repr(a))


def _default(v: Any) -> str:
    text = v.__qualname__ if inspect.isclass(v) or inspect.isroutine(v) else repr(v)
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def _signature(obj: Any, name: str) -> str:
    """``name(a: int, *, b: str = 'x') -> bool`` from the annotations as written in the source."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    parts: list[str] = []
    star_done = False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        text = prefix + p.name
        if p.annotation is not p.empty:
            text += f": {_anno(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {_default(p.default)}" if p.annotation is not p.empty else f"={_default(p.default)}"
        parts.append(text)
        if p.kind is p.POSITIONAL_ONLY and (
            list(sig.parameters.values()).index(p) + 1 == len(sig.parameters)
            or list(sig.parameters.values())[list(sig.parameters.values()).index(p) + 1].kind
            is not p.POSITIONAL_ONLY
        ):
            parts.append("/")
    ret = "" if sig.return_annotation is sig.empty else f" -> {_anno(sig.return_annotation)}"
    prefix = "async " if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj) else ""
    one_line = f"{prefix}{name}({', '.join(parts)}){ret}"
    if len(one_line) <= 100:
        return one_line
    return f"{prefix}{name}(\n" + "".join(f"    {p},\n" for p in parts) + f"){ret}"


def _doc(obj: Any) -> str:
    """The docstring as a text block (docstrings use reST markup, which Markdown would mangle)."""
    doc = inspect.getdoc(obj)
    return f"```text\n{doc.strip()}\n```\n" if doc else "*(no docstring)*\n"


def _record_fields(cls: type) -> list[tuple[str, Any, Any]] | None:
    """``(name, annotation, default or inspect.Parameter.empty)`` of each field of a class made by
    ``config_reloader.record.record`` (its ``__init__`` takes ``**fields``); None for others."""
    if "_defaults" not in vars(cls):
        return None
    defaults = cls._defaults  # type: ignore[attr-defined]
    notes = vars(cls)["__annotations__"]
    return [(f, notes[f], defaults.get(f, inspect.Parameter.empty)) for f in cls._fields]  # type: ignore[attr-defined]


def _record_signature(fields: list[tuple[str, Any, Any]], name: str) -> str:
    params = [
        inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for f, a, d in fields
    ]
    holder = lambda: None  # noqa: E731 (a function to carry the signature for _signature)
    holder.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    return _signature(holder, name)


def _class(cls: type, qual: str) -> list[str]:
    fields = _record_fields(cls)
    sig = _signature(cls, f"class {qual}") if fields is None else _record_signature(fields, f"class {qual}")
    out = [f"### `{qual}`\n", "```python", sig, "```\n", _doc(cls)]
    if fields is not None:
        out.append("| field | type | default |\n|---|---|---|")
        for name, anno, d in fields:
            default = "required" if d is inspect.Parameter.empty else f"`{_default(d)}`"
            out.append(f"| `{name}` | `{_anno(anno)}` | {default} |".replace("|`", "| `"))
        out.append("")
    if dataclasses.is_dataclass(cls):
        out.append("| field | type | default |\n|---|---|---|")
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f"`{_default(f.default)}`"
            elif f.default_factory is not dataclasses.MISSING:  # not called: it may read the clock
                factory = _default(f.default_factory)
                default = "set at creation" if "<lambda>" in factory else f"`{factory}()`"
            else:
                default = "required"
            out.append(f"| `{f.name}` | `{_anno(f.type)}` | {default} |".replace("|`", "| `"))
        out.append("")
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            out += [f"#### `{qual}.{name}` (property)\n", _doc(member.fget)]
        elif isinstance(member, (staticmethod, classmethod)):
            fn = member.__func__
            out += [
                f"#### `{qual}.{name}`\n",
                "```python",
                _signature(fn, f"{qual}.{name}"),
                "```\n",
                _doc(fn),
            ]
        elif inspect.isfunction(member):
            sig = _signature(member, f"{qual}.{name}").replace("(self, ", "(").replace("(self)", "()")
            out += [f"#### `{qual}.{name}`\n", "```python", sig, "```\n", _doc(member)]
    return out


def _errors(mod: Any) -> list[str]:
    """The exception tree as a nested list: class, base, first docstring line."""
    # every name of __all__, including those the module loads on first use
    members = [getattr(mod, name) for name in mod.__all__]
    classes = [c for c in members if inspect.isclass(c) and issubclass(c, Exception)]
    own = [c for c in classes if c.__module__ == mod.__name__]
    out = [_doc(mod), ""]

    def walk(cls: type, depth: int) -> None:
        first = (inspect.getdoc(cls) or "").split("\n\n", 1)[0].replace("\n", " ")
        out.append(f"{'  ' * depth}- `{cls.__name__}`: {first}")
        for sub in sorted((c for c in own if cls in c.__bases__), key=lambda c: c.__name__):
            walk(sub, depth + 1)

    for root in sorted((c for c in own if not any(b in own for b in c.__bases__)), key=lambda c: c.__name__):
        walk(root, 0)
    out.append("")
    return out


def build() -> str:
    """The text of docs/api.md."""
    out = [HEAD]
    for modname, what in MODULES:
        mod = importlib.import_module(modname)
        out.append(f"## `{modname}`: {what}\n")
        if modname == "config_reloader.errors":
            out += _errors(mod)
            continue
        for name in mod.__all__:
            obj = getattr(mod, name)
            qual = f"{modname}.{name}"
            if inspect.ismodule(obj):
                out.append(f"### `{qual}`\n\nThe module `{obj.__name__}`: see its section below.\n")
            elif inspect.isclass(obj):
                out += _class(obj, qual)
            elif callable(obj) and not hasattr(obj, "__origin__"):
                out += [f"### `{qual}`\n", "```python", _signature(obj, qual), "```\n", _doc(obj)]
            else:
                value = re.sub(r"\btyping\.", "", repr(obj))
                out += [f"### `{qual}`\n", "```python", f"{qual} = {value}", "```\n"]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    API_MD.write_text(build())
    sys.exit(0)
