"""Fuzz the condition / unit-file parser: random text, random bytes in a real file, and unit
files built from the pieces systemd's syntax has (sections, Condition*/Assert* keys, ``|`` and
``!``, continuations, comments, specifiers). Only ConditionError subclasses may come out."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from fuzz_budget import fuzz, tried
from hypothesis import given
from hypothesis import strategies as st

from config_reloader.conditions.parse import TYPES, parse_assignment, parse_unit_file, parse_unit_text
from config_reloader.errors import ConditionError

KEYS = st.one_of(
    st.builds(
        lambda k, t: k + t, st.sampled_from(["Condition", "Assert", "condition", ""]), st.sampled_from(TYPES)
    ),
    st.sampled_from(["Description", "ConditionFoo", "Assert", "Condition", "", " ", "[Unit]"]),
)
VALUES = st.lists(
    st.sampled_from(
        [
            "|",
            "!",
            " ",
            "/",
            "/etc",
            "//etc/",
            "./x",
            "x86-64",
            "avx2",
            "%n",
            "%",
            "%%",
            "%i",
            "%Z",
            ">=",
            "=",
            "5.10",
            "*",
            "[",
            "\\",
            "\t",
            "é",
            "\x00",
            "\x7f",
            "sse4_2",
            "|!",
            "!|",
            "1G",
            "-",
        ]
    ),
    max_size=8,
).map("".join)
LINES = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", KEYS, VALUES),
    st.sampled_from(["[Unit]", "[Service]", "[Unit", "[]", "#c", ";c", "", " ", "\\", "[Unit] x"]),
    st.builds(lambda k, v: f"{k}={v} \\", KEYS, VALUES),
    st.text(max_size=20),
)
UNITS = st.lists(LINES, max_size=12).map("\n".join)


@pytest.fixture(scope="module")
def unit_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="fuzz-unit-") as d:
        yield d


@fuzz()
@given(text=st.one_of(UNITS, st.text(max_size=300)), compat=st.booleans())
def test_unit_text(text: str, compat: bool) -> None:
    tried("unit text")
    try:
        parse_unit_text(text, filename="fuzz.service", systemd_compat=compat, warn=lambda _msg: None)
    except ConditionError as exc:
        assert str(exc)


@fuzz()
@given(text=st.one_of(st.builds(lambda k, v: f"{k}={v}", KEYS, VALUES), st.text(max_size=60)))
def test_assignment(text: str) -> None:
    tried("condition assignment")
    try:
        parse_assignment(text)
    except ConditionError as exc:
        assert str(exc)


@fuzz(scale=0.5)
@given(data=st.one_of(st.binary(max_size=400), UNITS.map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_unit_file_bytes(unit_dir: str, data: bytes) -> None:
    tried("unit file bytes")
    path = os.path.join(unit_dir, "fuzz.service")
    with open(path, "wb") as f:
        f.write(data)
    try:
        parse_unit_file(path, warn=lambda _msg: None)
    except ConditionError as exc:
        assert str(exc).startswith(path)
        assert "\n" not in str(exc)
