"""Byte sizes for flags (``--max-config-size``): ``64MiB``, ``512KiB``, ``1GB``, ``1048576``.

Suffixes are powers of 1024 whether written ``KiB``/``MiB``/``GiB`` or ``KB``/``MB``/``GB``
(the convention of kingpin's ``Bytes`` flags, ``units.Base2Bytes``, used by Prometheus and its
reloader); ``B`` or no suffix means bytes. Fractions are refused: a limit is a whole number of bytes.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_MAX_CONFIG_SIZE", "format_size", "parse_size"]

# Bound of the input, of its gunzipped form and of the rendered output (--max-config-size). A
# Kubernetes Secret holds 1 MiB; prometheus-operator gzips the config to fit, and Prometheus
# configs compress 10-30x, so real configs stay below 32 MiB, while a gzip bomb (1 MiB of gzip is
# 1 GiB of zeros) stops after 32 MiB of output: ~75 MB peak RSS, inside a 128 MiB memory limit.
DEFAULT_MAX_CONFIG_SIZE = 32 << 20


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"(\d{1,16})\s?([kmgt]?)(i?b)?", re.IGNORECASE)


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
    m = _SIZE.fullmatch(text.strip())
    if m is None or (m.group(3) is not None and m.group(3).lower() == "ib" and not m.group(2)):
        raise ValueError(f"invalid size {text!r}: use bytes or a unit, e.g. 1048576, 512KiB, 64MiB, 1GiB")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def format_size(n: int) -> str:
    """67108864 -> ``"64MiB"``; a size that is not a whole number of a unit stays in bytes (``"1000B"``)."""
    for suffix, unit in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return f"{n}B"
