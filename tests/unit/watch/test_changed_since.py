"""FileDigests.changed_since: which inputs changed between two snapshots of one Snapshotter
(the "reload triggered" line's changed= field), at a cost that does not grow with untouched
directories."""

from __future__ import annotations

import os
from pathlib import Path

from config_reloader.testing import atomic_replace
from config_reloader.watch.digests import FileDigests
from config_reloader.watch.snapshot import Snapshotter


def _digests(snap: object) -> FileDigests:
    files = snap.files  # type: ignore[attr-defined]
    assert isinstance(files, FileDigests)
    return files


def test_added_changed_removed_and_identity_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for d in (a, b):
        for n in ("x.yml", "y.yml"):
            atomic_replace(str(d / n), b"1")
    s = Snapshotter([str(a), str(b)])
    before = _digests(s.snapshot())
    atomic_replace(str(a / "x.yml"), b"2")  # changed
    atomic_replace(str(a / "y.yml"), b"1")  # same content, new inode: not a change
    atomic_replace(str(a / "z.yml"), b"1")  # added
    os.unlink(b / "y.yml")  # removed
    after = _digests(s.snapshot())
    assert after.changed_since(before) == {str(a / "x.yml"), str(a / "z.yml"), str(b / "y.yml")}
    assert after.changed_since(after) == set()
    # the same answer as comparing every path
    slow = {p for p, dg in after.items() if before.get(p) != dg} | {p for p in before if p not in after}
    assert after.changed_since(before) == slow


def test_a_directory_that_disappears_lists_its_files(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    d.mkdir()
    atomic_replace(str(d / "r.yml"), b"1")
    s = Snapshotter([str(tmp_path)])
    before = _digests(s.snapshot())
    os.unlink(d / "r.yml")
    os.rmdir(d)
    assert _digests(s.snapshot()).changed_since(before) == {str(d / "r.yml")}


class _Unreadable(dict[str, bytes]):
    """A directory's records that fail the test if anyone walks them."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("an untouched directory was walked")

    def items(self):  # type: ignore[no-untyped-def]
        raise AssertionError("an untouched directory was walked")

    def get(self, *a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("an untouched directory was looked into")


def test_untouched_directories_are_not_walked(tmp_path: Path) -> None:
    busy, quiet = tmp_path / "busy", tmp_path / "quiet"
    busy.mkdir()
    quiet.mkdir()
    for i in range(50):
        atomic_replace(str(quiet / f"{i}.yml"), b"q")
    atomic_replace(str(busy / "b.yml"), b"1")
    s = Snapshotter([str(busy), str(quiet)])
    before = _digests(s.snapshot())
    atomic_replace(str(busy / "b.yml"), b"2")
    after = _digests(s.snapshot([str(busy / "b.yml")]))
    shared = before._tree[str(quiet)]
    assert after._tree[str(quiet)] is shared  # copy-on-write: the quiet directory is shared
    trap = _Unreadable(shared)
    before._tree[str(quiet)] = trap
    after._tree[str(quiet)] = trap
    assert after.changed_since(before) == {str(busy / "b.yml")}
