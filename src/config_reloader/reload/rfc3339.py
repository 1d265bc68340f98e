"""RFC 3339 timestamps with nanoseconds (Go ``time.RFC3339Nano``), as in Prometheus' runtime info
``lastConfigTime``."""

from __future__ import annotations

import calendar
import re

__all__ = ["parse_rfc3339_ns"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)


def parse_rfc3339_ns(text: str) -> int:
    """Parse an RFC 3339 timestamp with up to nanosecond precision (Go ``time.RFC3339Nano``).

    Returns:
        integer nanoseconds since the Unix epoch (exact; no float rounding). Go's zero time
        ``0001-01-01T00:00:00Z`` ("never loaded") parses to a large negative number.

    Raises:
        ValueError: not RFC 3339 (the text is quoted in the message).
    """
    m = _RFC3339.match(text.strip())
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        raise ValueError(f"not an RFC 3339 timestamp (field out of range): {text!r}")
    frac = int((m.group(7) or "").ljust(9, "0") or "0")
    offset = 0
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        if m.group(9) == "-":
            offset = -offset
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return seconds * 1_000_000_000 + frac
