"""Go-style durations (``0``, ``500ms``, ``5s``, ``3m``, ``1h30m``) as float seconds.

Source: Go ``time.ParseDuration`` (units ns, us/µs, ms, s, m, h; a bare ``0`` is allowed;
fractions such as ``1.5s`` are allowed), which kingpin's duration flags of
prometheus-config-reloader use.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration", "seconds_problem"]

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Parse a Go duration string into seconds.

    Args:
        text: e.g. ``"0"``, ``"500ms"``, ``"5s"``, ``"3m"``, ``"1h30m"``. Negative durations
            are refused (no reloader interval can be negative).

    Returns:
        The duration in seconds (float).

    Raises:
        ValueError: the text is not a Go duration; the message quotes it and gives examples.
    """
    s = text.strip()
    if s in ("0", "+0"):
        return 0.0
    if s.startswith("+"):
        s = s[1:]
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s or pos != len(s) or math.isnan(total):
        raise ValueError(f"invalid duration {text!r}: use Go syntax such as 0, 500ms, 5s, 3m or 1h30m")
    return total


def format_duration(seconds: float) -> str:
    """Seconds as the shortest Go duration that reads back the same (``180.0`` -> ``"3m"``,
    ``1.0`` -> ``"1s"``, ``0.5`` -> ``"500ms"``): the defaults in ``--help``."""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return "0" if seconds == 0 else f"{seconds * 1000:g}ms"


def seconds_problem(value: object, *, positive: bool = False) -> str | None:
    """What is wrong with ``value`` as a duration in seconds, or None: it must be a finite int or
    float >= 0 (> 0 when ``positive``), not a bool. The one check of every duration setting; the
    caller puts the setting's name in front (``"retry_interval must be > 0 seconds, got 0"``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value < 0:
        return f"must be a number of seconds >= 0, got {value!r}"
    if math.isinf(value):
        return f"must be finite, got {value!r}"
    if positive and value == 0:
        return f"must be > 0 seconds, got {value!r}"
    return None
