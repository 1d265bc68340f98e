"""The hand-written scanners of the init container's path decide exactly as the regular
expressions they replace.

Each oracle below is the regular expression (and the code around it) as it was, kept here and
only here: durations, sizes, host name labels of ``--listen-address``, the StatefulSet ordinal,
``glob_escape``, ``$(VAR)`` references, the whitespace and zero-padding skips of render, and the
``--watch-ignore`` globs (``fnmatch.fnmatchcase``). Inputs are drawn from the characters that
matter to each grammar (digits of several scripts, unit letters with their case-folding
relatives, whitespace, separators) plus arbitrary text; valid and invalid inputs alike must give
the same value or the same error message.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import math
import re
import socket

from hypothesis import example, given, settings
from hypothesis import strategies as st

from config_reloader.durations import parse_duration
from config_reloader.listen import is_ipv4_dotted_quad, parse_listen_address
from config_reloader.reconcile.options import glob_escape, statefulset_ordinal
from config_reloader.render import _skip, env_references, is_empty_config
from config_reloader.sizes import parse_size
from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS, compile_ignore, star_match

# Bounded: each test stays well under 10 s on a loaded 2-core machine.
BOUNDED = settings(max_examples=400, deadline=None)


def _outcome(fn: object, text: object) -> tuple[str, object]:
    try:
        return ("ok", fn(text))  # type: ignore[operator]
    except ValueError as exc:
        return ("error", str(exc))


def _mixed(pieces: list[str], max_size: int = 12) -> st.SearchStrategy[str]:
    """Text made of grammar pieces and arbitrary characters."""
    return st.lists(st.one_of(st.sampled_from(pieces), st.characters()), max_size=max_size).map("".join)


# --- durations ---------------------------------------------------------------------------------

_D_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_D_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def _duration_oracle(text: str) -> float:
    s = text.strip()
    if s in ("0", "+0"):
        return 0.0
    if s.startswith("+"):
        s = s[1:]
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _D_PART.match(s, pos)
        if m is None:
            break
        total += float(m.group(1)) * _D_UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s) or math.isnan(total):
        raise ValueError(f"invalid duration {text!r}: use Go syntax such as 0, 500ms, 5s, 3m or 1h30m")
    return total


_DURATION_PIECES = [
    *"0123456789.+-",
    "\u0665",  # ARABIC-INDIC DIGIT FIVE: \d and str.isdecimal both take it
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "\u00b2",  # SUPERSCRIPT TWO: a digit to str.isdigit, not a decimal
    *_D_UNITS,
    "M",
    "S",
    "n",
    "u",
    "µ",
    " ",
    "\t",
    "\n",
]


@BOUNDED
@given(text=_mixed(_DURATION_PIECES))
def test_parse_duration_matches_the_regex(text: str) -> None:
    assert _outcome(parse_duration, text) == _outcome(_duration_oracle, text)


# --- sizes -------------------------------------------------------------------------------------

_S_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_S_SIZE = re.compile(r"(\d{1,16})\s?([kmgt]?)(i?b)?", re.IGNORECASE)


def _size_oracle(text: str) -> int:
    m = _S_SIZE.fullmatch(text.strip())
    if m is None or (m.group(3) is not None and m.group(3).lower() == "ib" and not m.group(2)):
        raise ValueError(f"invalid size {text!r}: use bytes or a unit, e.g. 1048576, 512KiB, 64MiB, 1GiB")
    return int(m.group(1)) * _S_UNITS[m.group(2).lower()]


# Every character re.IGNORECASE matches to a unit letter (KELVIN SIGN, dotted/dotless I), and
# near misses (LATIN SMALL LETTER LONG S, which folds to "s", not a unit here).
_SIZE_PIECES = [*"0123456789", "\u0665", *"kmgtKMGTiIbB", "\u212a", "\u0130", "\u0131", "\u017f"]
_SIZE_PIECES += [" ", "\u00a0", "\t", "\n", "  ", "ib", "iB", "KiB", "1234567890123456", "."]
_SIZE_PIECES += ["k\u0131b", "\u0130B", "\u0131b", "M\u0130b", "\u212aB"]


@BOUNDED
@given(text=_mixed(_SIZE_PIECES, max_size=8))
def test_parse_size_matches_the_regex(text: str) -> None:
    assert _outcome(parse_size, text) == _outcome(_size_oracle, text)


@BOUNDED
@given(digits=st.integers(1, 18), unit=st.sampled_from(["", "b", "KiB", "k", "MB", "\u212aiB", "ib"]))
def test_parse_size_digit_counts_match_the_regex(digits: int, unit: str) -> None:
    text = "9" * digits + unit
    assert _outcome(parse_size, text) == _outcome(_size_oracle, text)


@BOUNDED
@given(
    digits=st.sampled_from(["1", "0", "\u0665", "12", ""]),
    space=st.sampled_from(["", " ", "\u00a0", "  "]),
    unit=st.sampled_from(["", *"kmgtKMGTxbB", "\u212a", "\u017f"]),
    i=st.sampled_from(["", *"iI", "\u0130", "\u0131", "j"]),
    b=st.sampled_from(["", *"bB", "bb"]),
)
def test_parse_size_units_match_the_regex(digits: str, space: str, unit: str, i: str, b: str) -> None:
    text = digits + space + unit + i + b
    assert _outcome(parse_size, text) == _outcome(_size_oracle, text)


# --- host name labels of --listen-address ------------------------------------------------------

_HOSTNAME_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _listen_oracle(address: str) -> tuple[str | None, int]:
    """parse_listen_address as it was, for addresses that are neither IP literals nor bracketed
    (the branches that did not use the regular expression are unchanged)."""
    host, _, port = address.rpartition(":")
    if not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen address must be HOST:PORT or :PORT with PORT 0-65535, got {address!r}")
    if host and not all(_HOSTNAME_LABEL.fullmatch(lb) for lb in host.removesuffix(".").split(".")):
        raise ValueError(f"bad host in listen address {address!r}: not a host name")
    return host or None, int(port)


_HOST_PIECES = [*"aZ09-._", "-a", "a-", "x" * 63, "y" * 64, "\u0665", "é", "K"]


@BOUNDED
@given(
    host=_mixed(_HOST_PIECES, max_size=6).filter(lambda h: not set(h) & set(":[]")), port=st.integers(0, 9)
)
def test_host_names_match_the_regex(host: str, port: int) -> None:
    if host and all(c.isdigit() or c == "." for c in host):
        return  # an IPv4 literal: ipaddress decides, as before
    address = f"{host}:{port}"
    assert _outcome(parse_listen_address, address) == _outcome(_listen_oracle, address)


def _accepts_ipv4(fn: object, host: str) -> bool:
    try:
        fn(host)  # type: ignore[operator]
    except ValueError:
        return False
    return True


@BOUNDED
@given(host=_mixed([*"0123456789.", "00", "255", "256", "1.2.3.4", "01", "\u0663"], max_size=9))
@example(host="1.2.3.04")
@example(host="255.255.255.255")
@example(host="1.2.3")
@example(host="1.2.3.\u0663")
def test_ipv4_literals_are_accepted_as_ipaddress_accepts_them(host: str) -> None:
    """The listen address's IPv4 scanner; ipaddress and the C library's inet_pton are the oracles."""
    expected = _accepts_ipv4(ipaddress.IPv4Address, host)
    assert is_ipv4_dotted_quad(host) == expected, host
    if host.isascii():
        try:
            socket.inet_pton(socket.AF_INET, host)
        except OSError:
            assert not expected, host
        else:
            assert expected, host
    if host and all(c.isdigit() or c == "." for c in host):
        assert _accepts_ipv4(parse_listen_address, f"{host}:80") == expected, host


# --- StatefulSet ordinal, glob_escape ----------------------------------------------------------

_ORDINAL = re.compile(r"(\d+)$")


def _ordinal_oracle(value: str | None) -> str:
    if not value:
        return ""
    m = _ORDINAL.search(value)
    return m.group(1) if m else ""


@BOUNDED
@given(value=st.one_of(st.none(), _mixed([*"0123456789-", "\n", "\u0665", "pod-", "\n\n"])))
def test_statefulset_ordinal_matches_the_regex(value: str | None) -> None:
    assert statefulset_ordinal(value) == _ordinal_oracle(value)


@BOUNDED
@given(name=_mixed([*"*?[]!\\.", "[a-z]"]))
def test_glob_escape_matches_the_regex(name: str) -> None:
    assert glob_escape(name) == re.sub(r"([*?\[])", r"[\1]", name)
    assert fnmatch.fnmatchcase(name, glob_escape(name))


# --- render: $(VAR) references, whitespace and zero runs ----------------------------------------

_ENV_REFERENCE = re.compile(rb"\$\(([a-zA-Z_0-9]+)\)")
_REF_PIECES = [b"$", b"(", b")", b"$(", b"$$(", b"A", b"z_9", b"\xff", b"\x00", b"\n", b"-", b"\xc3\xa9"]
_REF_PIECES += [b"$(A)", b"$(A-)", b"$()", b"$(A B)", b"$(_9)", b"$((A))"]


@BOUNDED
@given(
    data=st.lists(st.one_of(st.sampled_from(_REF_PIECES), st.binary(max_size=3)), max_size=30).map(b"".join)
)
def test_env_references_match_the_regex(data: bytes) -> None:
    expected = [(m.start(), m.end(), m.group(1).decode("ascii")) for m in _ENV_REFERENCE.finditer(data)]
    assert list(env_references(data)) == expected


@BOUNDED
@given(
    data=st.lists(
        st.sampled_from([b" ", b"\t", b"\r", b"\n", b"\x00", b"#", b"x", b"\x0b"]), max_size=300
    ).map(b"".join),
    pos=st.integers(0, 310),
    chars=st.sampled_from([b"\x00", b" \t\r\n"]),
)
def test_skip_matches_the_regex(data: bytes, pos: int, chars: bytes) -> None:
    run = re.compile(b"[" + re.escape(chars) + b"]*")
    pos = min(pos, len(data))
    assert _skip(data, pos, chars) == run.match(data, pos).end()  # type: ignore[union-attr]


_BLANK = re.compile(rb"[ \t\r\n]*")


def _empty_oracle(data: bytes) -> bool:
    pos = 0
    while True:
        pos = _BLANK.match(data, pos).end()  # type: ignore[union-attr]
        if pos == len(data):
            return True
        if data[pos] != 0x23:
            return False
        end = data.find(b"\n", pos)
        if end < 0:
            return True
        pos = end + 1


@BOUNDED
@given(
    data=st.lists(
        st.sampled_from([b" ", b"\t", b"\r", b"\n", b"#", b"# x\n", b"x", b"\x0b"]), max_size=40
    ).map(b"".join)
)
def test_is_empty_config_matches_the_regex(data: bytes) -> None:
    assert is_empty_config(data) == _empty_oracle(data)


# --- --watch-ignore globs ----------------------------------------------------------------------

_GLOB_ALPHABET = "ab.*?~#"


@settings(max_examples=1500, deadline=None)
@given(glob=st.text(_GLOB_ALPHABET, max_size=8), name=st.text("ab.~#*?", max_size=10))
def test_star_match_is_fnmatchcase(glob: str, name: str) -> None:
    glob = glob.replace("?", "")  # star_match's grammar: * and plain characters
    assert star_match(tuple(glob.split("*")), name) == fnmatch.fnmatchcase(name, glob)


@BOUNDED
@example(glob="a*a", name="a")  # the first and last parts may not overlap
@example(glob="ab*ba", name="aba")
@given(glob=st.text("ab*", max_size=7), name=st.text("ab", max_size=6))
def test_star_match_is_fnmatchcase_on_two_letters(glob: str, name: str) -> None:
    """Two letters: the parts of the glob meet the name often, and overlap in it."""
    assert star_match(tuple(glob.split("*")), name) == fnmatch.fnmatchcase(name, glob)


@BOUNDED
@given(glob=st.text(st.characters(exclude_characters="?["), max_size=6), name=st.text(max_size=8))
def test_star_match_is_fnmatchcase_for_any_characters(glob: str, name: str) -> None:
    assert star_match(tuple(glob.split("*")), name) == fnmatch.fnmatchcase(name, glob)


@settings(max_examples=1500, deadline=None)
@given(glob=st.text(_GLOB_ALPHABET + "[]!", min_size=1, max_size=8), name=st.text("ab.~#*?[]!", max_size=10))
def test_each_kind_of_glob_is_fnmatchcase(glob: str, name: str) -> None:
    """A plain name, X*, *X, other globs of *, and ? or [...]: each goes its own way."""
    assert (not compile_ignore([glob])(name)) == fnmatch.fnmatchcase(name, glob)


def _ignore_oracle(globs: tuple[str, ...], path: str) -> bool:
    """compile_ignore's filter as it was: one regular expression of fnmatch.translate."""
    matcher = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)).match
    return matcher(path.rpartition("/")[2]) is None


_NAMES = st.one_of(
    st.sampled_from(
        [
            ".a.yaml.tmp",
            "a.yaml",
            ".rules.yaml.validate-1",
            "a~",
            ".a.swp",
            ".a.swx",
            "4913",
            ".#a",
            "x[1]",
            "b",
        ]
    ),
    st.text("ab.-#~[]!4913", max_size=10),
)
_GLOBS = st.lists(
    st.one_of(
        st.sampled_from([*DEFAULT_IGNORE_GLOBS, "[ab]*", "x[!0-9]*", "[", "a]", "*[*"]),
        st.text("ab*?.[]!-", min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=4,
)


@BOUNDED
@given(globs=_GLOBS, name=_NAMES, directory=st.sampled_from(["", "/etc/rules/", "rules/"]))
def test_compile_ignore_matches_the_regex(globs: list[str], name: str, directory: str) -> None:
    keep = compile_ignore(globs)
    assert keep(directory + name) == _ignore_oracle(tuple(globs), directory + name)
