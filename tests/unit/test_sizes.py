"""--max-config-size values: kingpin-style byte sizes, powers of 1024."""

from __future__ import annotations

import pytest

from config_reloader.sizes import DEFAULT_MAX_CONFIG_SIZE, format_size, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("1048576", 1 << 20), ("512KiB", 512 << 10), ("64MiB", 64 << 20), ("64MB", 64 << 20),
     ("1g", 1 << 30), ("2 GiB", 2 << 30), ("100B", 100), (" 7k ", 7 << 10)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "1.5MiB", "-1", "1iB", "1 PiB", "lots", "1e6"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_format_size() -> None:
    assert format_size(DEFAULT_MAX_CONFIG_SIZE) == "32MiB"
    assert format_size(1000) == "1000B"
    assert format_size(3 << 30) == "3GiB"
