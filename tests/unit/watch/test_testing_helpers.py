"""config_reloader.testing: wait_until, the writers, and the kubelet AtomicWriter simulation."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from config_reloader import testing
from config_reloader.testing import KubeletAtomicWriter, atomic_replace, wait_until, write_in_place


async def test_wait_until_sync_and_async_predicates() -> None:
    start = time.monotonic()
    await wait_until(lambda: time.monotonic() - start > 0.05, 5)
    calls = 0

    async def pred() -> bool:
        nonlocal calls
        calls += 1
        return calls >= 3

    await wait_until(pred, 5, interval=0.001)
    assert calls == 3


async def test_wait_until_deadline() -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="still false"):
        await wait_until(lambda: False, 0.2, interval=0.05)
    assert 0.2 <= time.monotonic() - start < 5


def test_atomic_replace_and_mode(tmp_path: Path) -> None:
    p = tmp_path / "f"
    atomic_replace(p, b"x", mode=0o600)
    assert p.read_bytes() == b"x" and stat.S_IMODE(p.stat().st_mode) == 0o600


def test_write_in_place_keeps_inode_and_shows_partial_states(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"old old old")
    inode = p.stat().st_ino
    seen: set[bytes] = set()
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.add(p.read_bytes())

    t = threading.Thread(target=reader)
    t.start()
    try:
        write_in_place(p, b"abcdefghi", chunks=3, pause=0.05)
    finally:
        done.set()
        t.join()
    assert p.read_bytes() == b"abcdefghi"
    assert p.stat().st_ino == inode
    assert seen & {b"", b"abc", b"abcdef"}, seen  # the non-atomic states are really observable
    with pytest.raises(ValueError):
        write_in_place(p, b"", chunks=0)


def layout(vol: Path) -> dict[str, str]:
    out = {}
    for name in sorted(os.listdir(vol)):
        p = vol / name
        out[name] = "->" + os.readlink(p) if p.is_symlink() else ("dir" if p.is_dir() else "file")
    return out


def test_kubelet_writer_modes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    """A volume written under ``umask 077`` is as readable as kubelet's (other users, e.g. a
    container's non-root user, traverse it): the volume dir and nested key dirs are 0755."""
    old = os.umask(0o077)
    try:
        KubeletAtomicWriter(tmp_path / "vol").write({"a.yaml": b"1", "sub/deeper/b.yaml": b"2"})
    finally:
        os.umask(old)
    vol = tmp_path / "vol"
    data = vol / os.readlink(vol / "..data")
    for d in (vol, data, data / "sub", data / "sub" / "deeper"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, d
    assert stat.S_IMODE((data / "sub" / "deeper" / "b.yaml").stat().st_mode) == 0o644


def test_kubelet_writer_layout_and_steps(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    steps: list[tuple[str, dict[str, str]]] = []
    w = KubeletAtomicWriter(vol, hook=lambda step: steps.append((step, layout(vol))))
    assert w.write({"a.yaml": b"1", "sub/b.yaml": b"2"})
    lay = layout(vol)
    ts = lay["..data"][2:]
    assert ts.startswith("..") and lay[ts] == "dir"
    assert lay["a.yaml"] == "->..data/a.yaml" and lay["sub"] == "->..data/sub"
    assert (vol / "sub" / "b.yaml").read_bytes() == b"2"
    assert stat.S_IMODE((vol / ts).stat().st_mode) == 0o755
    assert [s for s, _ in steps] == ["dir-written", "data-swapped", "links-updated", "old-removed"]

    steps.clear()
    dangling: list[bool] = []
    w2 = KubeletAtomicWriter(
        vol,
        hook=lambda step: (
            steps.append((step, layout(vol))),
            dangling.append(os.path.lexists(vol / "sub") and not os.path.exists(vol / "sub")),
        ),
    )
    assert w2.write({"a.yaml": b"changed", "c.yaml": b"3"})
    # two timestamped dirs exist between the swap and the removal; the removed key's link dangles
    during = dict(steps)["data-swapped"]
    assert len([n for n in during if n.startswith("..") and n not in ("..data",)]) == 2
    assert dangling == [False, True, False, False]  # the removed key's link dangles after the swap
    lay = layout(vol)
    assert "sub" not in lay and lay["c.yaml"] == "->..data/c.yaml"
    assert [n for n in lay if n.startswith("..") and n != "..data"] == [lay["..data"][2:]]
    assert (vol / "a.yaml").read_bytes() == b"changed"


def test_kubelet_writer_identical_payload_changes_nothing(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    w = KubeletAtomicWriter(vol)
    w.write({"a.yaml": b"1"})
    before = {n: os.lstat(vol / n).st_ino for n in os.listdir(vol)}
    assert not w.write({"a.yaml": b"1"})
    assert {n: os.lstat(vol / n).st_ino for n in os.listdir(vol)} == before
    (vol / "a.yaml").unlink()  # a lost user-visible link is recreated (kubernetes#121472)
    assert not w.write({"a.yaml": b"1"})
    assert (vol / "a.yaml").read_bytes() == b"1"


@pytest.mark.parametrize("key", ["../x", "/abs", "..data", "a/../../x", ""])
def test_kubelet_writer_rejects_bad_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        KubeletAtomicWriter(tmp_path).write({key: b"x"})


def test_recording_endpoint_reexported() -> None:
    assert hasattr(testing, "RecordingEndpoint") and hasattr(testing, "RecordedReload")


async def test_helpers_usable_from_a_loop(tmp_path: Path) -> None:
    await asyncio.to_thread(write_in_place, tmp_path / "x", b"abc", chunks=2)
    assert (tmp_path / "x").read_bytes() == b"abc"
