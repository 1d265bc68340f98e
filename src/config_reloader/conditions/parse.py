"""Syntax of systemd-style ``Condition<Type>=`` / ``Assert<Type>=`` assignments and unit files.

This module knows syntax only (prefixes, paths, unit-file lines); which types exist is in
:mod:`config_reloader.conditions.names`, what a condition means in
:mod:`config_reloader.conditions.checks`, how results combine in
:mod:`config_reloader.conditions.evaluate`.

Rules (each verified against ``systemd-analyze condition`` of systemd 252.38 on Debian 12):

* The type name is case-sensitive (``conditionPathExists=`` and ``ConditionPathexists=`` are
  rejected by systemd with ``Cannot parse``).
* Leading whitespace of the value is dropped, trailing whitespace is kept on the command line
  (``ConditionEnvironment=HOME `` looks for ``"HOME "``); unit-file values lose both.
* ``|`` (triggering) comes before ``!`` (negation). For string-valued types whitespace after each
  is skipped (``=| ! avx2`` is a negated trigger on ``avx2``); for path-valued types it is *not*
  (``ConditionPathExists=| /etc`` has the relative path ``" /etc"``), as in systemd's two parsers
  (``config_parse_unit_condition_string`` / ``_path``, src/core/load-fragment.c, v252).
* One token per assignment: no splitting of the value.
* An empty value resets every condition of that kind (``Condition…=`` resets all conditions of
  any type, ``Assert…=`` all asserts), because systemd keeps one list per kind.
* Path-valued types need an absolute, normalized path; the path is simplified (``//etc/`` →
  ``/etc``, ``/etc/./x`` → ``/etc/x``). systemd logs "path is not absolute, ignoring" and drops the
  assignment; we raise :class:`PathNotAcceptedError` (exit status 2) unless the caller asks for
  systemd's behaviour (``systemd_compat=True`` drops it with a warning).

Source: systemd.unit(5) "Conditions and Asserts"; systemd src/core/load-fragment.c and
src/analyze/analyze-condition.c (v252).
"""

from __future__ import annotations

from config_reloader.conditions.names import PATH_TYPES, TYPES, Condition, split_name
from config_reloader.conditions.unitfile import read_unit
from config_reloader.errors import ConditionSyntaxError, SpecifierError, UnknownConditionError

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Literal

    from config_reloader.conditions.specifiers import UnitName

    Kind = Literal["Condition", "Assert"]

__all__ = [
    "PATH_TYPES",
    "TYPES",
    "Condition",
    "PathNotAcceptedError",
    "parse_assignment",
    "parse_assignments",
    "parse_unit_file",
    "parse_unit_text",
    "simplify_path",
    "split_name",
]

_WHITESPACE = " \t\n\r"


class PathNotAcceptedError(ConditionSyntaxError):
    """A path-valued condition got a relative or non-normalized path.

    systemd logs a warning and drops such an assignment (so it neither passes nor fails);
    ``systemd_compat=True`` reproduces that, the default refuses it.
    """


def simplify_path(path: str) -> str:
    """Collapse ``//``, drop ``.`` components and trailing slashes (systemd's ``path_simplify``).

    ``..`` components are kept (the caller refuses them as "not normalized").
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    prefix = "/" if path.startswith("/") else ""
    out = prefix + "/".join(parts)
    return out or ("/" if prefix else ".")


#: Errors for which systemd logs a warning and drops the assignment.
_IGNORED_BY_SYSTEMD = (PathNotAcceptedError, SpecifierError)


def _parse_value(
    kind: Kind,
    type_: str,
    value: str,
    *,
    source: str,
    line: int | None,
    full_text: str,
    unit: UnitName | None = None,
) -> Condition:
    is_path = type_ in PATH_TYPES
    v = value
    trigger = v.startswith("|")
    if trigger:
        v = v[1:]
        if not is_path:
            v = v.lstrip(_WHITESPACE)
    negate = v.startswith("!")
    if negate:
        v = v[1:]
        if not is_path:
            v = v.lstrip(_WHITESPACE)
    if "%" in v:  # specifiers imported only when there is one (start-up budget)
        from config_reloader.conditions.specifiers import expand

        try:
            v = expand(v, unit)
        except SpecifierError as exc:
            raise SpecifierError(f"{source}: {kind}{type_}=: {exc}", text=full_text, line=line) from None
    if is_path:
        if not v.startswith("/"):
            raise PathNotAcceptedError(
                f"{source}: {kind}{type_}= path is not absolute: {v!r} (systemd ignores such "
                "an assignment; give an absolute path)",
                text=full_text,
                line=line,
            )
        v = simplify_path(v)
        if ".." in v.split("/"):
            raise PathNotAcceptedError(
                f"{source}: {kind}{type_}= path is not normalized (contains '..'): {v!r} "
                "(systemd ignores such an assignment)",
                text=full_text,
                line=line,
            )
    return Condition(kind=kind, type=type_, trigger=trigger, negate=negate, parameter=v, source=source)


def parse_assignment(
    text: str, *, source: str = "argv", unit: UnitName | None = None, systemd_compat: bool = False
) -> Condition | None:
    """Parse one ``Condition<Type>=VALUE`` / ``Assert<Type>=VALUE`` command-line argument.

    Args:
        text: the whole argument, e.g. ``"ConditionCPUFeature=|!avx2"``.
        source: recorded in :attr:`Condition.source` and error messages, e.g. ``"argv[1]"``.
        unit: the unit ``%n``, ``%p``, ``%i``… expand to (default ``test.service``, like
            ``systemd-analyze condition``).
        systemd_compat: only the types systemd 252 knows.

    Returns:
        The condition, or ``None`` for an empty value (which resets the list of that kind; use
        :func:`parse_assignments` to apply resets).

    Raises:
        ConditionSyntaxError: no ``=``.
        UnknownConditionError: unknown type (case-sensitive), with suggestions.
        PathNotAcceptedError: relative or non-normalized path for a path-valued type.
        SpecifierError: an unknown ``%`` specifier (``%%`` is a literal ``%``).
    """
    name, eq, value = text.partition("=")
    if not eq:
        raise ConditionSyntaxError(
            f"{source}: expected Condition<Type>=VALUE or Assert<Type>=VALUE, got {text!r}",
            text=text,
        )
    kind, type_ = split_name(name, systemd_compat=systemd_compat)
    value = value.lstrip(_WHITESPACE)
    if value == "":
        return None
    return _parse_value(kind, type_, value, source=source, line=None, full_text=text, unit=unit)


def _reset_kind(text: str) -> Kind:
    name = text.partition("=")[0]
    return split_name(name)[0]


def parse_assignments(
    texts: Iterable[str],
    *,
    source: str = "argv",
    systemd_compat: bool = False,
    first_index: int = 1,
    warn: Callable[[str], None] | None = None,
) -> list[Condition]:
    """Parse several command-line assignments in order, applying empty-value resets.

    Args:
        texts: the assignments.
        source: prefix for :attr:`Condition.source`; each gets ``"{source}[{i}]"``.
        systemd_compat: drop relative / non-normalized paths and unknown specifiers with a
            warning like systemd instead of raising :class:`PathNotAcceptedError` /
            :class:`~config_reloader.conditions.specifiers.SpecifierError`; refuse the types
            newer than systemd 252.
        first_index: index of the first text in ``source`` (``argv[1]`` by default).
        warn: called with a message for each assignment dropped under ``systemd_compat``
            (default: a logging warning).

    Returns:
        The surviving conditions and asserts in order of appearance.

    Raises:
        ConditionSyntaxError, UnknownConditionError, PathNotAcceptedError: see
            :func:`parse_assignment`.
    """
    result: list[Condition] = []
    for i, text in enumerate(texts, start=first_index):
        src = f"{source}[{i}]"
        try:
            cond = parse_assignment(text, source=src, systemd_compat=systemd_compat)
        except _IGNORED_BY_SYSTEMD as exc:
            if not systemd_compat:
                raise
            _warn_ignored(exc, warn)
            continue
        if cond is None:
            kind = _reset_kind(text)
            result = [c for c in result if c.kind != kind]
        else:
            result.append(cond)
    return result


def _warn_ignored(exc: Exception, warn: Callable[[str], None] | None) -> None:
    if warn is not None:
        warn(f"{exc}; ignored like systemd does")
        return
    import logging

    logging.getLogger(__name__).warning("assignment ignored like systemd does", extra={"reason": str(exc)})


_SECTION_PATTERN = r"^\[([^\[\]]+)\]$"  # compiled on first use (start-up budget)


def parse_unit_text(
    text: str,
    *,
    filename: str = "unit",
    systemd_compat: bool = False,
    warn: Callable[[str], None] | None = None,
    initial: Sequence[Condition] = (),
    unit: UnitName | None = None,
) -> list[Condition]:
    """Parse the ``Condition*=``/``Assert*=`` lines of the ``[Unit]`` section of a unit file's text.

    Unit-file rules (systemd.syntax(7)): ``#`` and ``;`` start comment lines; a trailing backslash
    continues the line (the backslash becomes a space; comment lines inside a continuation are
    skipped); keys and values are stripped; sections other than ``[Unit]`` and keys other than
    ``Condition*``/``Assert*`` are ignored; an empty value resets the list of that kind.

    Args:
        text: the file content.
        filename: used in :attr:`Condition.source` (``"{filename}:{line}"``) and errors.
        systemd_compat: like systemd 252, ignore (with a warning) unknown ``Condition*``/``Assert*``
            keys (the types newer than 252 too), lines without ``=`` and bad paths instead of raising.
        warn: receives the warnings of ``systemd_compat`` (default: logging).
        initial: conditions parsed before (the unit file, when this is a drop-in): resets apply
            to them too.
        unit: the unit for ``%n``-style specifiers (default: derived from ``filename``).

    Raises:
        ConditionSyntaxError: a malformed line in ``[Unit]`` or a malformed section header
            (``.line`` set, message starts with ``file:line``).
        UnknownConditionError: an unknown ``Condition*``/``Assert*`` key in ``[Unit]``.
        PathNotAcceptedError: relative or non-normalized path.
    """
    import os.path

    result: list[Condition] = list(initial)
    section: str | None = None
    if unit is None:
        from config_reloader.conditions.specifiers import UnitName

        unit = UnitName(os.path.basename(filename), fragment=filename)
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i + 1
        raw = lines[i].strip()
        i += 1
        if not raw or raw[0] in "#;":
            continue
        while raw.endswith("\\"):
            raw = raw[:-1] + " "
            while i < len(lines) and lines[i].strip()[:1] in ("#", ";"):
                i += 1
            if i >= len(lines):
                break
            raw += lines[i].strip()
            i += 1
        raw = raw.strip()
        where = f"{filename}:{start}"
        if raw.startswith("["):
            import re  # unit files only (start-up budget of the command line case)

            m = re.match(_SECTION_PATTERN, raw)
            if not m:
                raise ConditionSyntaxError(f"{where}: malformed section header {raw!r}", text=raw, line=start)
            section = m.group(1)
            continue
        if section != "Unit":
            continue
        key, eq, value = raw.partition("=")
        key = key.strip()
        value = value.strip()
        if not (key.startswith("Condition") or key.startswith("Assert")):
            continue
        if not eq:
            if systemd_compat:
                continue
            raise ConditionSyntaxError(f"{where}: missing '=' in {raw!r}", text=raw, line=start)
        try:
            kind, type_ = split_name(key, systemd_compat=systemd_compat)
        except UnknownConditionError as exc:
            located = UnknownConditionError(f"{where}: {exc}", type=exc.type, suggestions=exc.suggestions)
            if systemd_compat:  # systemd: "Unknown key '…' in section [Unit], ignoring."
                _warn_ignored(located, warn)
                continue
            raise located from None
        if value == "":
            result = [c for c in result if c.kind != kind]
            continue
        try:
            result.append(
                _parse_value(kind, type_, value, source=where, line=start, full_text=raw, unit=unit)
            )
        except _IGNORED_BY_SYSTEMD as exc:
            if not systemd_compat:
                raise
            _warn_ignored(exc, warn)
    return result


def parse_unit_file(
    path: str,
    *,
    systemd_compat: bool = False,
    warn: Callable[[str], None] | None = None,
    dropins: bool = True,
) -> list[Condition]:
    """Read a unit file and parse its ``[Unit]`` conditions and asserts (see :func:`parse_unit_text`).

    Drop-ins next to it (``PATH.d/*.conf``, in lexical order) are applied after the file, as
    systemd does for the unit's own directory; an empty assignment in a drop-in resets what the
    file set. (systemd also merges drop-ins from the other unit directories and type-level
    ``service.d/``; those are not read here.)

    Args:
        path: the unit file.
        systemd_compat: see :func:`parse_unit_text`.
        warn: see :func:`parse_unit_text`.
        dropins: read ``PATH.d/*.conf`` too.

    Raises:
        ConditionSyntaxError: unreadable or not UTF-8 (``.line`` is None), or a malformed line.
        UnknownConditionError, PathNotAcceptedError: see :func:`parse_unit_text`.
    """
    import os.path

    from config_reloader.conditions.specifiers import UnitName

    unit = UnitName(os.path.basename(path), fragment=path)
    result = parse_unit_text(
        read_unit(path), filename=path, systemd_compat=systemd_compat, warn=warn, unit=unit
    )
    dropin_dir = f"{path}.d"
    if dropins and os.path.isdir(dropin_dir):
        for name in sorted(os.listdir(dropin_dir)):
            if not name.endswith(".conf"):
                continue
            conf = os.path.join(dropin_dir, name)
            result = parse_unit_text(
                read_unit(conf),
                filename=conf,
                systemd_compat=systemd_compat,
                warn=warn,
                initial=result,
                unit=unit,
            )
    return result
