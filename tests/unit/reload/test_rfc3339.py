"""RFC 3339 parsing of Prometheus' lastConfigTime (Go time.RFC3339Nano)."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config_reloader.recording import format_rfc3339_ns
from config_reloader.reload.verify import parse_rfc3339_ns

BASE = calendar.timegm((2026, 11, 29, 19, 30, 0, 0, 0, 0)) * 1_000_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29T19:30:00Z", BASE),
        ("2026-11-29T19:30:00.123456789Z", BASE + 123456789),
        ("2026-11-29T19:30:00.1Z", BASE + 100_000_000),
        ("2026-11-29T20:30:00.000000001+01:00", BASE + 1),
        ("2026-11-29T17:00:00-02:30", BASE),
        ("2026-11-29t19:30:00z", BASE),
    ],
)
def test_parses_with_nanoseconds_and_offsets(text: str, expected: int) -> None:
    assert parse_rfc3339_ns(text) == expected


def test_nanosecond_ordering_is_exact() -> None:
    # float seconds would lose the last digits: 1 ns apart must still compare correctly
    assert parse_rfc3339_ns("2026-11-29T19:30:00.000000002Z") > parse_rfc3339_ns(
        "2026-11-29T19:30:00.000000001Z"
    )


def test_go_zero_time_is_before_everything() -> None:
    assert parse_rfc3339_ns("0001-01-01T00:00:00Z") < parse_rfc3339_ns("1970-01-01T00:00:00Z") == 0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-11-29 19:30",
        "2026-11-29T19:30:00",
        "2026-13-01T00:00:00Z",
        "2026-11-29T19:30:00.1234567890Z",
    ],
)
def test_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339_ns(text)


@given(st.integers(min_value=0, max_value=253402300799 * 10**9 + 999_999_999))
def test_property_round_trip_with_recording_endpoint_format(ns: int) -> None:
    assert parse_rfc3339_ns(format_rfc3339_ns(ns)) == ns
