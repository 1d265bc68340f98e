"""Go-style durations (``0``, ``500ms``, ``5s``, ``3m``, ``1h30m``) as float seconds.

Source: Go ``time.ParseDuration`` (units ns, us/µs, ms, s, m, h; a bare ``0`` is allowed;
fractions such as ``1.5s`` are allowed), which kingpin's duration flags of
prometheus-config-reloader use.
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration"]

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
