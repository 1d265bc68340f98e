"""Byte sizes for flags (``--max-config-size``): ``64MiB``, ``512KiB``, ``1GB``, ``1048576``.

Suffixes are powers of 1024 whether written ``KiB``/``MiB``/``GiB`` or ``KB``/``MB``/``GB``
(the convention of kingpin's ``Bytes`` flags, ``units.Base2Bytes``, used by Prometheus and its
reloader); ``B`` or no suffix means bytes. Fractions are refused: a limit is a whole number of bytes.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_CONFIG_SIZE", "format_size", "parse_size"]

# Bound of the input, of its gunzipped form and of the rendered output (--max-config-size). A
# Kubernetes Secret holds 1 MiB; prometheus-operator gzips the config to fit, and Prometheus
# configs compress 10-30x, so real configs stay below 32 MiB, while a gzip bomb (1 MiB of gzip is
# 1 GiB of zeros) stops after 32 MiB of output: ~75 MB peak RSS, inside a 128 MiB memory limit.
DEFAULT_MAX_CONFIG_SIZE = 32 << 20


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
# The letters that spell each unit, case-insensitively by Unicode's simple case folding (the
# letters ``re.IGNORECASE`` matched when this parser was a regular expression): KELVIN SIGN is a
# ``k``, the dotted and dotless capital/small I are an ``i``.
_UNIT_LETTERS = {
    letter: unit
    for unit, letters in (("k", "kK\u212a"), ("m", "mM"), ("g", "gG"), ("t", "tT"))
    for letter in letters
}
_I_LETTERS = "iI\u0130\u0131"
_B_LETTERS = "bB"
_MAX_DIGITS = 16


def parse_size(text: str) -> int:
    """``"64MiB"`` -> 67108864.

    Args:
        text: digits, optionally followed by ``B``, ``KiB``/``KB``/``K``, ``MiB``/``MB``/``M``,
            ``GiB``/``GB``/``G`` or ``TiB``/``TB``/``T`` (case-insensitive, all powers of 1024).

    Returns:
        The size in bytes (>= 0).

    Raises:
        ValueError: not such a size; the message quotes the text and gives examples.
    """
    # Grammar: DIGITS [SPACE] [UNIT] [SUFFIX]; DIGITS = 1-16 decimal digits (str.isdecimal),
    # SPACE = one whitespace character (str.isspace), UNIT = k/m/g/t, SUFFIX = "b" or "ib", and
    # a SUFFIX spelled "ib" needs a UNIT.
    s = text.strip()
    end = 0
    while end < len(s) and end < _MAX_DIGITS and s[end].isdecimal():
        end += 1
    digits, rest = s[:end], s[end:]
    if rest[:1].isspace():
        rest = rest[1:]
    unit = _UNIT_LETTERS.get(rest[:1], "")
    suffix = rest[1:] if unit else rest
    if not (
        digits
        and _is_suffix(suffix)
        # "ib" without a unit is refused, compared after lower() as the regular expression's
        # caller did: "1\u0130B" (lower() gives three characters) is read as bytes, as before
        and not (suffix.lower() == "ib" and not unit)
    ):
        raise ValueError(f"invalid size {text!r}: use bytes or a unit, e.g. 1048576, 512KiB, 64MiB, 1GiB")
    return int(digits) * _UNITS[unit]


def _is_suffix(text: str) -> bool:
    """``text`` is empty, ``b`` or ``ib`` (case-insensitive, see ``_I_LETTERS``)."""
    if len(text) == 2:
        return text[0] in _I_LETTERS and text[1] in _B_LETTERS
    return text == "" or text in _B_LETTERS


def format_size(n: int) -> str:
    """67108864 -> ``"64MiB"``; a size that is not a whole number of a unit stays in bytes (``"1000B"``)."""
    for suffix, unit in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return f"{n}B"
