"""Hashing a file that was not cached leaves none of its pages in the page cache (the sidecar's
memory cgroup would be charged for them); a file that was cached (by its writer, by the target)
keeps its pages, which are someone else's charge; the digest is the same either way."""

from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
from pathlib import Path

import pytest

from config_reloader.watch.digests import DIGEST_AT, read_record

PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def resident_pages(path: Path) -> int:
    """Pages of ``path`` in the page cache, by mincore(2) on a shared read-only mapping (mapping
    a file does not read it)."""
    size = path.stat().st_size
    pages = (size + PAGE - 1) // PAGE
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
        try:
            vec = ctypes.create_string_buffer(pages)
            assert _libc.mincore(addr, size, vec) == 0, os.strerror(ctypes.get_errno())
            return sum(b & 1 for b in vec.raw)
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


def on_tmpfs(path: Path) -> bool:
    best, fstype = "", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _dev, mnt, typ, *_ = line.split()
        if str(path).startswith(mnt) and len(mnt) > len(best):
            best, fstype = mnt, typ
    return fstype in ("tmpfs", "ramfs")


def _written(tmp_path: Path, pages: int) -> tuple[Path, bytes]:
    if on_tmpfs(tmp_path):
        pytest.skip("on tmpfs the pages are the file: the advice does nothing")
    content = os.urandom(pages * PAGE + 123)
    f = tmp_path / "rules.yaml"
    f.write_bytes(content)
    fd = os.open(f, os.O_RDONLY)
    try:
        os.fsync(fd)  # clean pages: only clean pages can be dropped
    finally:
        os.close(fd)
    return f, content


def _uncache(f: Path) -> None:
    fd = os.open(f, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _digest_ok(f: Path, content: bytes) -> None:
    got = read_record(str(f))
    assert got is not None
    rec, size = got
    assert size == len(content)
    assert rec[DIGEST_AT:] == hashlib.sha256(content).digest()


@pytest.mark.parametrize("pages", [0, 1, 16, 300])  # 300 pages: more than one READ_CHUNK
def test_pages_the_read_brought_in_are_dropped(tmp_path: Path, pages: int) -> None:
    f, content = _written(tmp_path, pages)
    _uncache(f)
    if resident_pages(f) != 0:
        pytest.skip("this file system keeps the pages cached despite the advice")

    _digest_ok(f, content)

    assert resident_pages(f) == 0
    assert f.read_bytes() == content  # still the same bytes, read from the file system again


@pytest.mark.parametrize("pages", [1, 16, 300])
def test_pages_cached_before_are_left_alone(tmp_path: Path, pages: int) -> None:
    f, content = _written(tmp_path, pages)
    assert f.read_bytes() == content  # cached now, charged to this process (the kubelet, in a pod)
    cached = resident_pages(f)
    assert cached > 0

    _digest_ok(f, content)

    assert resident_pages(f) == cached


def test_a_partly_cached_file_reads_whole(tmp_path: Path) -> None:
    """The first pages cached, the rest not: the read goes on from the disk where the cache ends."""
    f, content = _written(tmp_path, 64)
    _uncache(f)
    with f.open("rb") as fh:
        fh.read(8 * PAGE)  # only the head (readahead may take a few pages more)
    _digest_ok(f, content)
