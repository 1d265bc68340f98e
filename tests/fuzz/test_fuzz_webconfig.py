"""Fuzz the --web-config-file loader: random bytes, random YAML, and documents built from its
own keys with values of every YAML type. Only WebConfigError may come out."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fuzz_budget import fuzz, tried
from hypothesis import given
from hypothesis import strategies as st

from config_reloader.webconfig import WebConfigError, load_web_config

SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "TLS12",
            "TLS13",
            "TLS10",
            "RequireAndVerifyClientCert",
            "RequestClientCert",
            "1s",
            "-1s",
            "0",
            "$2y$10$" + "a" * 53,
            "$2b$12$" + "/" * 53,
            "/dev/zero",
            "/etc/passwd",
            "missing.pem",
            ".",
            "",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
SECTIONS = {
    "tls_server_config": ["cert", "key", "cert_file", "key_file", "client_ca", "client_ca_file",
                          "client_auth_type", "client_allowed_sans", "min_version", "max_version",
                          "cipher_suites", "prefer_server_cipher_suites", "curve_preferences"],
    "http_server_config": ["http2", "headers"],
    "basic_auth_users": ["admin", "", "é"],
    "rate_limit": ["interval", "burst"],
}  # fmt: skip


@st.composite
def documents(draw: st.DrawFn) -> Any:
    doc: dict[Any, Any] = {}
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "unknown"]), max_size=4)):
        keys = SECTIONS.get(section, ["x"])
        doc[section] = draw(
            st.one_of(
                VALUES,
                st.dictionaries(st.one_of(st.sampled_from(keys), st.text(max_size=5)), VALUES, max_size=4),
            )
        )
    return draw(st.one_of(st.just(doc), VALUES))


@pytest.fixture(scope="module")
def config_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="fuzz-webconfig-") as d:
        yield d


def _load(directory: str, data: bytes) -> None:
    path = os.path.join(directory, "web.yml")
    with open(path, "wb") as f:
        f.write(data)
    try:
        load_web_config(path)
    except WebConfigError as exc:
        assert str(exc)


@fuzz(scale=0.5)
@given(data=st.binary(max_size=300))
def test_random_bytes(config_dir: str, data: bytes) -> None:
    tried("web config bytes")
    _load(config_dir, data)


@fuzz(scale=0.5)
@given(doc=documents())
def test_structured_documents(config_dir: str, doc: Any) -> None:
    tried("web config structure")
    _load(config_dir, yaml.safe_dump(doc, allow_unicode=True).encode())


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 50_000,
        b"{a: " * 20_000,
        b"&a [*a]",
        b'a: &a ["x","x"]\nb: &b [*a,*a]\nrate_limit: {interval: *b}\n',
    ],
    ids=["deep-list", "deep-map", "self-alias", "alias-fanout"],
)
def test_crafted_documents(config_dir: str, data: bytes) -> None:
    """Found by hand next to the fuzzer: deep nesting raised RecursionError out of the loader."""
    _load(config_dir, data)
