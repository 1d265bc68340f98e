"""atomic_write: content, modes, symlinks, failure at every step, no partial reads."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import pytest

from config_reloader import atomic
from config_reloader.atomic import atomic_write
from config_reloader.errors import AtomicWriteError


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


def test_new_file_gets_0644_masked_by_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic_write(str(tmp_path / "out"), b"data")
        assert atomic.current_umask() == 0o077
    finally:
        os.umask(old)
    assert (tmp_path / "out").read_bytes() == b"data"
    # Go's os.WriteFile(0644) gives 0644 &^ umask; mkstemp's 0600 is not what decides it.
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []
    old = os.umask(0o022)
    try:
        atomic_write(str(tmp_path / "out2"), b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out2").stat().st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a file owned by another user")
def test_file_of_another_user_passes_on_neither_owner_nor_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o1777)  # a sticky shared directory such as /tmp
    out = tmp_path / "out"
    out.write_bytes(b"planted")
    os.chown(out, 65534, 65534)
    out.chmod(0o666)
    old = os.umask(0o022)
    try:
        atomic_write(str(out), b"secret")
    finally:
        os.umask(old)
    st = out.stat()
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert out.read_bytes() == b"secret"


def test_inherited_mode_drops_group_other_write_of_another_users_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"")
    f.chmod(0o4777)
    st = f.stat()
    assert atomic.inherited_mode(st) == 0o777  # ours: rwx kept, setuid never
    other = os.stat_result((st.st_mode, 0, 0, 1, os.geteuid() + 1, 0, 0, 0, 0, 0))
    assert atomic.inherited_mode(other) == 0o755


def test_previous_mode_preserved_and_explicit_mode_wins(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"old")
    out.chmod(0o640)
    atomic_write(str(out), b"new")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    atomic_write(str(out), b"newer", mode=0o600)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes() == b"newer"


def test_replaces_inode_so_readers_keep_old_content(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"old")
    with open(out, "rb") as reader:
        atomic_write(str(out), b"new")
        assert reader.read() == b"old"
    assert out.read_bytes() == b"new"


def test_symlink_target_replaces_the_link_itself(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_bytes(b"real")
    real.chmod(0o600)
    link = tmp_path / "link"
    link.symlink_to(real)
    atomic_write(str(link), b"new")
    assert not link.is_symlink()
    assert link.read_bytes() == b"new"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600  # mode of what the link pointed to
    assert real.read_bytes() == b"real"


@pytest.mark.parametrize(
    ("seam", "step"),
    [("_fsync", "fsync"), ("_fchmod", "chmod"), ("_replace", "rename")],
)
def test_failing_step_leaves_target_untouched_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seam: str, step: str
) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"old")

    def boom(*args: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic, seam, boom)
    with pytest.raises(AtomicWriteError) as info:
        atomic_write(str(out), b"new")
    assert info.value.step == step
    assert info.value.path == str(out)
    assert out.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_fsync_dir_failure_reported_after_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync
    calls: list[int] = []

    def second_fails(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(atomic, "_fsync", second_fails)
    with pytest.raises(AtomicWriteError) as info:
        atomic_write(str(tmp_path / "out"), b"new")
    assert info.value.step == "fsync-dir"
    assert (tmp_path / "out").read_bytes() == b"new"


def test_fsync_dir_einval_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync
    calls: list[int] = []

    def dir_einval(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(atomic, "_fsync", dir_einval)
    atomic_write(str(tmp_path / "out"), b"new")
    assert (tmp_path / "out").read_bytes() == b"new"


def test_missing_directory_fails_at_create(tmp_path: Path) -> None:
    with pytest.raises(AtomicWriteError) as info:
        atomic_write(str(tmp_path / "nodir" / "out"), b"x")
    assert info.value.step == "create"


def test_unwritable_directory_fails_at_create(tmp_path: Path) -> None:
    # Root ignores directory permissions; a directory on a read-only bind is not available here,
    # so use a path whose "directory" is a regular file (ENOTDIR), which fails for everyone.
    f = tmp_path / "file"
    f.write_bytes(b"")
    with pytest.raises(AtomicWriteError) as info:
        atomic_write(str(f / "out"), b"x")
    assert info.value.step == "create"


def test_no_partial_reads_while_a_reader_hammers_the_target(tmp_path: Path) -> None:
    out = tmp_path / "out"
    versions = [bytes([65 + i]) * (50_000 + i * 977) for i in range(20)]
    atomic_write(str(out), versions[0])
    valid = set(versions)
    bad: list[int] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            data = out.read_bytes()
            reads += 1
            if data not in valid:
                bad.append(len(data))

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(5):
            for v in versions:
                atomic_write(str(out), v, durable=False)
    finally:
        stop.set()
        t.join()
    assert bad == []
    assert reads > 0
    assert leftovers(tmp_path) == []


def test_text_instead_of_bytes_is_a_clear_type_error_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.yml"
    with pytest.raises(TypeError, match=r"data must be bytes, not str \(encode text first"):
        atomic_write(str(target), "a: 1\n")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_device_node_or_our_symlink_to_one_is_never_replaced(tmp_path: Path) -> None:
    # A null device of our own (root's mknod; the test suite runs as root), never /dev/null
    # itself: without the check this test would replace it.
    dev = tmp_path / "null"
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with pytest.raises(AtomicWriteError, match="it is a character device, not replaced") as info:
        atomic_write(str(dev), b"config")
    assert info.value.step == "create"
    assert stat.S_ISCHR(dev.lstat().st_mode)
    link = tmp_path / "stdout"
    link.symlink_to(dev)  # like /dev/stdout: ours, pointing to a device
    with pytest.raises(AtomicWriteError, match="it is a character device"):
        atomic_write(str(link), b"config")
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "stdout"]  # no temp file left


def test_temp_names_never_reuse_a_file_or_follow_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file (mkstemp's contract without tempfile): a name already taken, even by a
    dangling symlink planted by someone else, is skipped, never opened; the file is 0600."""
    out = tmp_path / "out"
    victim = tmp_path / "victim"
    taken = [b"\x00" * 6, b"\x01" * 6]
    (tmp_path / f".out.{taken[0].hex()}.tmp").write_bytes(b"someone else's")
    (tmp_path / f".out.{taken[1].hex()}.tmp").symlink_to(victim)
    names = iter([*taken, b"\x02" * 6])
    monkeypatch.setattr(atomic.os, "urandom", lambda n: next(names))
    fd, name = atomic._create_temp(str(tmp_path), ".out.", ".tmp")
    os.close(fd)
    assert name == str(tmp_path / f".out.{'02' * 6}.tmp")
    assert stat.S_IMODE(os.stat(name).st_mode) == 0o600
    assert not victim.exists() and (tmp_path / f".out.{taken[0].hex()}.tmp").read_bytes() == b"someone else's"
    monkeypatch.setattr(atomic.os, "urandom", lambda n: taken[0])
    with pytest.raises(FileExistsError):
        atomic._create_temp(str(tmp_path), ".out.", ".tmp")
    monkeypatch.undo()
    atomic_write(str(out), b"data")
    assert out.read_bytes() == b"data"


def test_a_directory_at_the_path_is_named_as_such(tmp_path: Path) -> None:
    """An output path that is a directory (a volume's mount point) says so, before any temp file."""
    out = tmp_path / "config_out"
    out.mkdir()
    with pytest.raises(
        AtomicWriteError, match=r"config_out: it is a directory; give a file name inside it"
    ) as info:
        atomic_write(str(out), b"config")
    assert info.value.step == "create"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config_out"] and not any(out.iterdir())
