"""The ctypes layer: record decoding (hand-built buffers) and a real inotify instance."""

from __future__ import annotations

import errno
import os
import struct
from pathlib import Path

import pytest

from config_reloader.errors import InotifyLimitError
from config_reloader.watch import inotify as ino
from config_reloader.watch.inotify import Inotify, InotifyEvent, decode_events, mask_names


def record(wd: int, mask: int, cookie: int, name: bytes, pad_to: int = 16) -> bytes:
    padded = name + b"\0" * (-(len(name) + 1) % pad_to + 1) if name else b""
    return struct.pack("iIII", wd, mask, cookie, len(padded)) + padded


def test_decode_several_records_with_padding_and_overflow() -> None:
    buf = (
        record(1, ino.IN_CREATE, 0, b"a.yaml")
        + record(1, ino.IN_MOVED_FROM, 7, b".a.yaml.x.tmp")
        + record(2, ino.IN_MOVED_TO, 7, b"exactly16bytes!!")
        + record(-1, ino.IN_Q_OVERFLOW, 0, b"")
        + record(3, ino.IN_IGNORED, 0, b"")
    )
    assert decode_events(buf) == [
        InotifyEvent(1, ino.IN_CREATE, 0, "a.yaml"),
        InotifyEvent(1, ino.IN_MOVED_FROM, 7, ".a.yaml.x.tmp"),
        InotifyEvent(2, ino.IN_MOVED_TO, 7, "exactly16bytes!!"),
        InotifyEvent(-1, ino.IN_Q_OVERFLOW, 0, ""),
        InotifyEvent(3, ino.IN_IGNORED, 0, ""),
    ]


def test_decode_non_utf8_name_survives_as_surrogates() -> None:
    (ev,) = decode_events(record(1, ino.IN_CREATE, 0, b"caf\xe9"))
    assert os.fsencode(ev.name) == b"caf\xe9"


def test_decode_rejects_truncated_buffers() -> None:
    whole = record(1, ino.IN_CREATE, 0, b"name")
    with pytest.raises(ValueError, match="truncated"):
        decode_events(whole[:-3])
    with pytest.raises(ValueError, match="truncated"):
        decode_events(whole[:10])
    assert decode_events(b"") == []


def test_mask_names() -> None:
    assert mask_names(ino.IN_CREATE | ino.IN_ISDIR) == "IN_CREATE|IN_ISDIR"
    assert mask_names(0) == "0"


def test_real_instance_reports_create_modify_close_and_ignored(tmp_path: Path) -> None:
    with Inotify() as notifier:
        assert notifier.read_events() == []  # non-blocking when empty
        wd = notifier.add_watch(str(tmp_path), ino.IN_CREATE | ino.IN_MODIFY | ino.IN_CLOSE_WRITE)
        assert notifier.add_watch(str(tmp_path), ino.IN_CREATE | ino.IN_MODIFY | ino.IN_CLOSE_WRITE) == wd
        (tmp_path / "f").write_bytes(b"x")
        events = notifier.read_events()
        kinds = {(e.wd, e.name, e.mask & ~ino.IN_ISDIR) for e in events}
        assert (wd, "f", ino.IN_CREATE) in kinds
        assert (wd, "f", ino.IN_CLOSE_WRITE) in kinds
        notifier.rm_watch(wd)
        assert any(e.mask & ino.IN_IGNORED and e.wd == wd for e in notifier.read_events())
        notifier.rm_watch(wd)  # already gone: ignored (EINVAL)
    assert notifier.closed
    with pytest.raises(ValueError):
        notifier.fileno()


def test_fd_is_nonblocking_and_cloexec() -> None:
    import fcntl

    with Inotify() as notifier:
        fl = fcntl.fcntl(notifier.fileno(), fcntl.F_GETFL)
        fd_flags = fcntl.fcntl(notifier.fileno(), fcntl.F_GETFD)
        assert fl & os.O_NONBLOCK
        assert fd_flags & fcntl.FD_CLOEXEC


def test_add_watch_errors(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"")
    with Inotify() as notifier:
        with pytest.raises(FileNotFoundError):
            notifier.add_watch(str(tmp_path / "missing"), ino.IN_CREATE)
        with pytest.raises(NotADirectoryError):
            notifier.add_watch(str(f), ino.IN_CREATE | ino.IN_ONLYDIR)


def test_enospc_maps_to_limit_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import ctypes

    with Inotify() as notifier:
        monkeypatch.setattr(notifier._lib, "add_watch", lambda fd, path, mask: -1)
        monkeypatch.setattr(ctypes, "get_errno", lambda: errno.ENOSPC)
        with pytest.raises(InotifyLimitError) as info:
            notifier.add_watch(str(tmp_path), ino.IN_CREATE)
        assert info.value.sysctl == "fs.inotify.max_user_watches"


def test_emfile_maps_to_limit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes

    lib = ino._get_libc()
    monkeypatch.setattr(lib, "init1", lambda flags: -1)
    monkeypatch.setattr(ctypes, "get_errno", lambda: errno.EMFILE)
    with pytest.raises(InotifyLimitError) as info:
        Inotify()
    assert info.value.sysctl == "fs.inotify.max_user_instances"
