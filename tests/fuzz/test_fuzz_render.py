"""Fuzz the renderer: random bytes, gzip framing (members, padding, truncation, corruption,
trailing bytes) and $(VAR) forms. Only the documented errors (GzipError, ConfigTooLarge,
EnvExpansionError) may come out, never another exception; results are checked against oracles
(the standard library's gzip, a one-line regex substitution)."""

from __future__ import annotations

import gzip
import re
import zlib

import pytest
from fuzz_budget import fuzz, tried
from hypothesis import assume, given
from hypothesis import strategies as st

from config_reloader.errors import ConfigTooLarge, EnvExpansionError, GzipError
from config_reloader.logs import REDACTED, redact_values
from config_reloader.render import expand_env, gunzip, render_bytes

# The oracle of $(VAR) expansion: Thanos' envVarRegexp (pkg/reloader/reloader.go), which render's
# scanner (env_references) replaces.
ENV_REFERENCE = re.compile(rb"\$\(([a-zA-Z_0-9]+)\)")

DOCUMENTED = (GzipError, ConfigTooLarge, EnvExpansionError)
NAMES = st.sampled_from(["A", "B", "PW", "x_1", "POD_NAME", "é", "", "A B", "9"])
ENV = st.dictionaries(
    st.sampled_from(["A", "B", "PW", "x_1", "POD_NAME"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    max_size=5,
)


def _member(payload: bytes, level: int, name: bool) -> bytes:
    if name:  # FNAME set: the header parser must skip it
        return gzip.compress(payload, compresslevel=level, mtime=0)
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(payload) + comp.flush()


@st.composite
def gzip_streams(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    """(stream, expected output or None when the framing was damaged)."""
    members = draw(
        st.lists(st.tuples(st.binary(max_size=300), st.integers(0, 9), st.booleans()), min_size=1, max_size=4)
    )
    out = b""
    expected = b""
    for payload, level, name in members:
        out += _member(payload, level, name) + b"\x00" * draw(st.integers(0, 3))
        expected += payload
    damage = draw(st.sampled_from(["none", "truncate", "flip", "trailing", "insert"]))
    if damage == "truncate":
        out = out[: draw(st.integers(0, len(out) - 1))]
    elif damage == "flip":
        i = draw(st.integers(0, len(out) - 1))
        out = out[:i] + bytes([out[i] ^ draw(st.integers(1, 255))]) + out[i + 1 :]
    elif damage == "trailing":
        out += draw(st.binary(min_size=1, max_size=20))
    elif damage == "insert":
        i = draw(st.integers(0, len(out)))
        out = out[:i] + draw(st.binary(min_size=1, max_size=8)) + out[i:]
    return out, (expected if damage == "none" else None)


@fuzz()
@given(raw=st.binary(max_size=2000), env=ENV, strict=st.booleans(), limit=st.integers(0, 4000))
def test_random_bytes_give_a_result_or_a_documented_error(
    raw: bytes, env: dict[str, str], strict: bool, limit: int
) -> None:
    tried("render: random bytes")
    try:
        r = render_bytes(raw, source="in.yml", env=env, strict_env=strict, max_size=limit)
    except DOCUMENTED as exc:
        assert str(exc).startswith("in.yml: ")
        assert "\n" not in str(exc)
        return
    assert len(r.data) <= limit


@fuzz()
@given(raw=st.binary(max_size=2000).map(lambda b: b"\x1f\x8b" + b), limit=st.integers(0, 100_000))
def test_random_bytes_after_the_gzip_magic(raw: bytes, limit: int) -> None:
    tried("render: gzip magic + random bytes")
    try:
        out = gunzip(raw, limit=limit, source="in.gz")
    except (GzipError, ConfigTooLarge):
        return
    assert len(out) <= limit
    assert out == gzip.decompress(raw)


@fuzz()
@given(stream=gzip_streams(), limit=st.integers(0, 2000))
def test_gzip_framing_matches_the_standard_library(stream: tuple[bytes, bytes | None], limit: int) -> None:
    tried("render: gzip framing")
    data, expected = stream
    try:
        reference: bytes | None = gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        reference = None
    try:
        out = gunzip(data, limit=limit, source="in.gz")
    except ConfigTooLarge:
        assert expected is None or len(expected) > limit
        return
    except GzipError:
        assert expected is None, "an intact stream was refused"
        return
    assert len(out) <= limit
    if expected is not None:
        assert out == expected
    if reference is not None:
        assert out == reference
    else:
        # gzip.decompress refused what zlib accepted: only a damaged header it cannot parse.
        assert expected is None


_TEXT = st.lists(
    st.sampled_from(["$", "(", ")", "$(", "$$(", ")", "A", "B", "PW", "x_1", "é", " ", "\n", "{", "}", "\\"]),
    max_size=30,
).map(lambda parts: "".join(parts).encode())


@fuzz()
@given(data=_TEXT, env=ENV, limit=st.integers(0, 3000))
def test_var_forms_match_the_regex_oracle(data: bytes, env: dict[str, str], limit: int) -> None:
    tried("render: $(VAR) forms")
    unset: set[str] = set()

    def sub(m: re.Match[bytes]) -> bytes:
        name = m.group(1).decode()
        if name not in env:
            unset.add(name)
            return m.group(0)
        return env[name].encode()

    reference = ENV_REFERENCE.sub(sub, data)
    try:
        out, names = expand_env(data, env, limit=limit)
    except ConfigTooLarge:
        assert len(reference) > limit
        return
    assert out == reference
    assert names == tuple(sorted(unset))
    try:
        r = render_bytes(data, source="in", env=env, strict_env=True)
    except EnvExpansionError as exc:
        assert exc.names == names and names
        return
    assert not names
    assert set(r.expanded_values) <= {v for v in env.values() if v}


@fuzz()
@given(
    text=st.text(max_size=200),
    values=st.lists(st.text(st.characters(exclude_characters="*"), max_size=12), max_size=5),
)
def test_redact_values_leaves_no_value_of_four_or_more_characters(text: str, values: list[str]) -> None:
    tried("logs: redact_values")
    for v in values:
        if len(v) >= 4:
            text = text[: len(text) // 2] + v + text[len(text) // 2 :]
    out = redact_values(text, values)
    for v in values:
        if len(v) >= 4:
            assert v not in out
    if not any(values):
        assert out == text
    else:
        assume(REDACTED not in text)


@pytest.mark.parametrize("size", [0, 1, 1 << 16])
def test_limit_is_exact_at_the_boundary(size: int) -> None:
    data = b"z" * size
    assert gunzip(gzip.compress(data), limit=size) == data
    if size:
        with pytest.raises(ConfigTooLarge):
            gunzip(gzip.compress(data), limit=size - 1)
