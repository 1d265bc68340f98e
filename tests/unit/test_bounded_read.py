"""bounded_read: only regular files are read, never past a limit, and nothing blocks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config_reloader.bounded_read import (
    FileTooLarge,
    NotRegularFile,
    output_matches,
    read_regular,
    read_stable,
)


def test_regular_file_is_read_whole(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 1000)
    data, st = read_stable(str(f), 1000)
    assert data == b"x" * 1000 and st.st_size == 1000


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFile) as info:
        read_stable(str(fifo), 100)  # a blocking open would hang here: no writer ever comes
    assert info.value.kind == "a FIFO"


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null"])
def test_symlink_to_a_device_is_refused(tmp_path: Path, target: str) -> None:
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(NotRegularFile, match="character device"):
        read_stable(str(link), 100)
    assert not output_matches(str(link), b"")


def test_over_the_limit_by_size_or_by_growing(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 101)
    with pytest.raises(FileTooLarge) as info:
        read_stable(str(f), 100)
    assert info.value.size == 101
    # A file that grew after its fstat: the size hint is small, the read still stops at the bound.
    f.write_bytes(b"y" * 5000)
    fd = os.open(f, os.O_RDONLY)
    try:
        assert read_regular(fd, 100, size_hint=10) is None
        os.lseek(fd, 0, os.SEEK_SET)
        assert read_regular(fd, 5000, size_hint=10) == b"y" * 5000
    finally:
        os.close(fd)


def test_output_matches_reads_only_a_same_size_regular_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert not output_matches(str(out), b"a")  # missing
    out.write_bytes(b"abc")
    assert output_matches(str(out), b"abc")
    assert not output_matches(str(out), b"abd")
    assert not output_matches(str(out), b"ab")
    link = tmp_path / "link"
    link.symlink_to(out)
    assert not output_matches(str(link), b"abc")  # a link is replaced, not followed
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert not output_matches(str(fifo), b"")
