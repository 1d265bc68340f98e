"""Go-style durations (``0``, ``500ms``, ``5s``, ``3m``, ``1h30m``) as float seconds.

Source: Go ``time.ParseDuration`` (units ns, us/µs, ms, s, m, h; a bare ``0`` is allowed;
fractions such as ``1.5s`` are allowed), which kingpin's duration flags of
prometheus-config-reloader use.
"""

from __future__ import annotations

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
_INF = float("inf")


def _number_end(s: str, pos: int) -> int:
    """End of the number at ``s[pos:]`` (``pos`` when there is none).

    Grammar: ``DIGITS ["." [DIGITS]] | "." DIGITS``, DIGITS being one or more decimal digits
    (``str.isdecimal``: any Unicode digit, which ``float`` reads too).
    """
    end = pos
    while end < len(s) and s[end].isdecimal():
        end += 1
    if end < len(s) and s[end] == ".":
        frac = end + 1
        while frac < len(s) and s[frac].isdecimal():
            frac += 1
        if end > pos or frac > end + 1:  # "5.", "5.5" and ".5", never a lone "."
            end = frac
    return end


def _unit_at(s: str, pos: int) -> str | None:
    """The unit at ``s[pos:]``: two-letter units first, so ``ms`` is not ``m`` then ``s``."""
    for unit in (s[pos : pos + 2], s[pos : pos + 1]):
        if unit in _UNITS:
            return unit
    return None


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
    # Grammar: one or more PART, PART = NUMBER UNIT (_number_end, _unit_at).
    pos = 0
    total = 0.0
    while pos < len(s):
        end = _number_end(s, pos)
        unit = _unit_at(s, end) if end > pos else None
        if unit is None:
            break
        total += float(s[pos:end]) * _UNITS[unit]
        pos = end + len(unit)
    if not s or pos != len(s) or total != total:  # NaN, the one float unequal to itself
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
    # value != value: NaN (without math, ~0.4 ms of the init container's start-up)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return f"must be a number of seconds >= 0, got {value!r}"
    if value == _INF:  # -inf was refused above
        return f"must be finite, got {value!r}"
    if positive and value == 0:
        return f"must be > 0 seconds, got {value!r}"
    return None
