"""Value parsing shared by the condition checks: booleans, comparison operators, version
comparison, globs, sizes and percentages, word splitting (systemd's rules for each).

Every function here is pure or reads nothing but its arguments (``fnmatch``/``glob_exists`` call
the C library). Sources: systemd src/basic/parse-util.c (``parse_boolean``, ``parse_size``,
``parse_permyriad``), src/basic/compare-operator.c, src/fundamental/string-util-fundamental.c
(``strverscmp_improved``), v252; each checked with ``systemd-analyze`` 252 (tests/conformance).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing is not imported at run time (start-up); mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = [
    "OP_TEXT",
    "WS",
    "compare_versions",
    "fnmatch",
    "glob_exists",
    "parse_boolean",
    "parse_compare_operator",
    "parse_permyriad",
    "parse_size",
    "parse_version_expression",
    "split_words",
    "test_order",
    "version_expression_holds",
    "version_or_fnmatch",
]

#: systemd's WHITESPACE.
WS = " \t\n\r"
#: Operator names of :func:`parse_compare_operator` as text, for messages.
OP_TEXT = {"lt": "<", "le": "<=", "eq": "=", "ne": "!=", "ge": ">=", "gt": ">"}


def split_words(text: str) -> list[str]:
    """Whitespace split with shell-like quotes (systemd ``extract_first_word`` UNQUOTE|RELAX)."""
    import shlex  # only types with word lists need it

    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return text.split()


_TRUE = frozenset({"1", "yes", "y", "true", "t", "on"})
_FALSE = frozenset({"0", "no", "n", "false", "f", "off"})


def parse_boolean(text: str) -> bool | None:
    """systemd's ``parse_boolean``: None if not a boolean."""
    t = text.lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    return None


# --- comparison operators and versions ------------------------------------------------------------
# (operator text, name, needs ALLOW_FNMATCH, only with EQUAL_BY_STRING / only without)
_OPERATORS: tuple[tuple[str, str, bool, bool | None], ...] = (
    ("$=", "fnmatch-eq", True, None),
    ("!$=", "fnmatch-ne", True, None),
    ("<>", "ne", False, None),
    ("<=", "le", False, None),
    (">=", "ge", False, None),
    ("<", "lt", False, None),
    (">", "gt", False, None),
    ("==", "eq", False, None),
    ("=", "str-eq", False, True),
    ("=", "eq", False, False),
    ("!=", "str-ne", False, True),
    ("!=", "ne", False, False),
)


def parse_compare_operator(text: str, *, fnmatch: bool, equal_by_string: bool) -> tuple[str | None, str]:
    """Split a leading comparison operator off ``text``: ``(name or None, rest)``.

    Source: src/basic/compare-operator.c (v252): ``$=``/``!$=`` only where globs are allowed;
    ``=``/``!=`` compare as strings where the type says so (KernelVersion, OSRelease).
    """
    for op, name, needs_fn, by_string in _OPERATORS:
        if needs_fn and not fnmatch:
            continue
        if by_string is not None and by_string != equal_by_string:
            continue
        if text.startswith(op):
            return name, text[len(op) :]
    return None, text


def test_order(cmp: int, op: str) -> bool:
    return {
        "lt": cmp < 0,
        "le": cmp <= 0,
        "eq": cmp == 0,
        "ne": cmp != 0,
        "ge": cmp >= 0,
        "gt": cmp > 0,
    }[op]


def compare_versions(a: str, b: str) -> int:
    """Compare two version strings like systemd's ``strverscmp_improved`` (UAPI version format).

    Returns -1, 0 or 1. Rules, in order: characters other than ASCII letters, digits and ``~-^.``
    are skipped; ``~`` sorts before everything (even the end); then the string that ended is
    older; then, for ``-``, ``^`` and ``.`` in this order, the string that has the separator at
    this place is older; digit runs compare numerically (leading zeros ignored) and are newer than
    letters; letter runs compare lexically. Checked against ``systemd-analyze compare-versions``
    (tests/conformance/test_version_compare.py).

    Source: UAPI group "Version Format Specification"; systemd src/fundamental/string-util-fundamental.c.
    """
    valid = set("~-^.")

    def strip(s: str, i: int) -> int:
        while i < len(s) and not (s[i].isascii() and (s[i].isalnum() or s[i] in valid)):
            i += 1
        return i

    i = j = 0
    while True:
        i, j = strip(a, i), strip(b, j)
        ca = a[i] if i < len(a) else ""
        cb = b[j] if j < len(b) else ""
        if ca == "~" or cb == "~":
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if not ca or not cb:
            return (ca != "") - (cb != "")
        for sep in ("-", "^", "."):
            if ca == sep or cb == sep:
                if ca != sep:  # the string that has the separator here is the older one
                    return 1
                if cb != sep:
                    return -1
                break
        else:
            sep = ""
        if sep:
            i, j = i + 1, j + 1
            continue
        if ca.isdigit() or cb.isdigit():
            if not ca.isdigit():
                return -1
            if not cb.isdigit():
                return 1
            while i < len(a) and a[i] == "0":
                i += 1
            while j < len(b) and b[j] == "0":
                j += 1
            ei, ej = i, j
            while ei < len(a) and a[ei].isdigit():
                ei += 1
            while ej < len(b) and b[ej].isdigit():
                ej += 1
            da, db = a[i:ei], b[j:ej]
            if len(da) != len(db):
                return 1 if len(da) > len(db) else -1
            if da != db:
                return 1 if da > db else -1
            i, j = ei, ej
            continue
        ei, ej = i, j
        while ei < len(a) and a[ei].isascii() and a[ei].isalpha():
            ei += 1
        while ej < len(b) and b[ej].isascii() and b[ej].isalpha():
            ej += 1
        la, lb = a[i:ei], b[j:ej]
        n = min(len(la), len(lb))
        if la[:n] != lb[:n]:
            return 1 if la[:n] > lb[:n] else -1
        if len(la) != len(lb):
            return 1 if len(la) > len(lb) else -1
        i, j = ei, ej


_FNM_CASEFOLD = 1 << 4  # glibc <fnmatch.h>
_GLOB_NOSORT = 1 << 2  # glibc <glob.h>
_GLOB_BRACE = 1 << 10


def _libc() -> Any:
    import ctypes  # ~2 ms of imports, paid only by conditions with a glob

    return ctypes.CDLL(None, use_errno=True)


def fnmatch(pattern: str, string: str, *, casefold: bool = False) -> bool:
    """``fnmatch(3)`` of the C library, as systemd calls it: POSIX classes (``[[:digit:]]``),
    backslash escapes, no extglobs; ``casefold`` = ``FNM_CASEFOLD`` (ConditionHost=). Falls back to
    Python's :func:`fnmatch.fnmatchcase` where no C library can be loaded."""
    try:
        libc = _libc()
        fn = libc.fnmatch
    except (OSError, AttributeError):
        from fnmatch import fnmatchcase

        return fnmatchcase(string.lower(), pattern.lower()) if casefold else fnmatchcase(string, pattern)
    import ctypes  # see _libc

    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    fn.restype = ctypes.c_int
    return int(fn(pattern.encode(), string.encode(), _FNM_CASEFOLD if casefold else 0)) == 0


def glob_exists(pattern: str) -> tuple[bool, list[str]]:
    """``glob(3)`` with ``GLOB_NOSORT|GLOB_BRACE`` as systemd's ``glob_exists``: (any match, up to
    10 matches). Falls back to Python's :mod:`glob` (no braces) without a C library."""
    import ctypes  # see _libc

    try:
        libc = _libc()
        g = libc.glob
        free = libc.globfree
    except (OSError, AttributeError):
        import glob

        found = glob.glob(pattern)
        return bool(found), sorted(found)[:10]

    class GlobT(ctypes.Structure):
        _fields_ = [
            ("gl_pathc", ctypes.c_size_t),
            ("gl_pathv", ctypes.POINTER(ctypes.c_char_p)),
            ("gl_offs", ctypes.c_size_t),
            ("gl_flags", ctypes.c_int),
            ("_rest", ctypes.c_void_p * 8),  # callbacks; glibc's glob_t has 5 pointers here
        ]

    buf = GlobT()
    g.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(GlobT)]
    g.restype = ctypes.c_int
    rc = int(g(pattern.encode(), _GLOB_NOSORT | _GLOB_BRACE, None, ctypes.byref(buf)))
    try:
        if rc != 0:
            return False, []
        paths = [buf.gl_pathv[i].decode(errors="replace") for i in range(min(buf.gl_pathc, 10))]
        return True, paths
    finally:
        free(ctypes.byref(buf))


def version_or_fnmatch(op: str, actual: str, expected: str) -> bool:
    """systemd's ``version_or_fnmatch_compare``: ``op`` from :func:`parse_compare_operator`."""
    if op == "fnmatch-eq":
        return fnmatch(expected, actual)
    if op == "fnmatch-ne":
        return not fnmatch(expected, actual)
    if op == "str-eq":
        return actual == expected
    if op == "str-ne":
        return actual != expected
    return test_order(compare_versions(actual, expected), op)


def parse_version_expression(text: str) -> Iterator[tuple[str, str]]:
    """Parse systemd's version expression (``ConditionVersion=``, ``ConditionKernelVersion=``).

    Terms are separated by whitespace and may be quoted (``'>=6.1' '<7'``); each is
    ``[OP]VALUE`` with the operators of :func:`parse_compare_operator` (``=``/``!=`` compare
    strings, ``$=``/``!$=`` are globs); a term without operator is a glob. Only the first term may
    have whitespace between operator and value without quotes (``>= 6.1``); ``> 6.1 < 7`` is
    malformed, as in systemd.

    Yields:
        ``(operator name, value)`` per term, in order (all must hold; an empty text yields none).
        Lazily, like systemd, which stops at the first term that fails before reading the rest.

    Raises:
        ValueError: on reaching a term that ends after its operator.
    """
    words = split_words(text)
    i = 0
    while i < len(words):
        s = words[i].strip(WS)
        i += 1
        op, s = parse_compare_operator(s, fnmatch=True, equal_by_string=True)
        s = s.lstrip(WS)
        if not s:
            if i > 1 or i >= len(words):  # whitespace after the operator: first term only
                raise ValueError(f"version expression {text!r} ends after an operator")
            s = words[i]
            i += 1
        yield op or "fnmatch-eq", s


def version_expression_holds(text: str, actual: str) -> bool:
    """Every term of :func:`parse_version_expression` holds for ``actual`` (stops at the first
    that does not).

    Raises:
        ValueError: a malformed term is reached.
    """
    return all(version_or_fnmatch(op, actual, value) for op, value in parse_version_expression(text))


# --- sizes and percentages ------------------------------------------------------------------------
_SIZE_SUFFIXES = (("E", 1024**6), ("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", 1024**2),
                  ("K", 1024), ("B", 1), ("", 1))  # fmt: skip
_NUM_RE = re.compile(r"(\d+)(?:\.(\d*))?")


def parse_size(text: str) -> int:
    """Parse a 1024-based size like systemd's ``parse_size(…, 1024)``: bytes.

    Accepts ``512``, ``1.5G``, ``1G 512M`` (components with descending suffixes are summed),
    suffixes ``B K M G T P E`` (upper case only), whitespace between number and suffix.

    Raises:
        ValueError: not a size.
    """
    p = text.lstrip(WS)
    if not p or p.startswith("-"):
        raise ValueError(text)
    total = 0
    start = 0
    while p:
        m = _NUM_RE.match(p)
        if not m:
            raise ValueError(text)
        whole = int(m.group(1))
        frac_s = m.group(2) or ""
        rest = p[m.end() :].lstrip(WS)
        for idx in range(start, len(_SIZE_SUFFIXES)):
            suffix, factor = _SIZE_SUFFIXES[idx]
            if rest.startswith(suffix):
                break
        else:
            raise ValueError(text)
        frac = 0
        if frac_s:
            # systemd computes the fraction in double precision: digits / 10 per digit, * factor,
            # truncated; repeat that exactly so sizes at the boundary compare the same way
            f = float(int(frac_s))
            for _ in frac_s:
                f /= 10
            frac = int(f * float(factor))
        total += whole * factor + frac
        start = idx + 1
        p = rest[len(suffix) :].lstrip(WS)
        if suffix == "" and p:
            raise ValueError(text)
    return total


def parse_permyriad(text: str) -> int:
    """``"12.5%"`` → 1250 (hundredths of a percent). Raises ValueError."""
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,2}))?%", text)
    if m:
        value = int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    else:
        m = re.fullmatch(r"(\d+)(?:\.(\d))?‰", text)
        if m:
            value = int(m.group(1)) * 10 + int(m.group(2) or "0")
        else:
            m = re.fullmatch(r"(\d+)‱", text)
            if not m:
                raise ValueError(text)
            value = int(m.group(1))
    if value > 10000:
        raise ValueError(text)
    return value
