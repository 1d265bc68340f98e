"""Snapshotter: digest format computed by hand, kubelet layout, the identity cache, vanishing files."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from snapshot_oracle import merkle_digest

from config_reloader.errors import SnapshotError
from config_reloader.testing import KubeletAtomicWriter, atomic_replace
from config_reloader.watch.snapshot import Snapshotter, thanos_digest

OLD = 1_000_000_000  # an mtime far in the past: not "racy", the cache may trust it


def by_hand(entries: dict[str, bytes]) -> bytes:
    """The snapshot digest of ``path -> content``, by hand."""
    return merkle_digest({path: hashlib.sha256(content).digest() for path, content in entries.items()})


def thanos_by_hand(entries: dict[str, bytes]) -> bytes:
    h = hashlib.sha256()
    for path in sorted(entries):
        h.update(b"\xff" + path.encode() + b"\xff" + entries[path])
    return h.digest()


def backdate(*paths: Path) -> None:
    for p in paths:
        os.utime(p, ns=(OLD, OLD))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """rules/ with a file, a nested dir, a link to a file, a link to a dir, a dangling link, ..data."""
    rules = tmp_path / "rules"
    (rules / "sub").mkdir(parents=True)
    (rules / "a.yaml").write_bytes(b"alpha")
    (rules / "sub" / "b.yaml").write_bytes(b"beta")
    (tmp_path / "outside.yaml").write_bytes(b"linked")
    (rules / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    (tmp_path / "otherdir").mkdir()
    (tmp_path / "otherdir" / "hidden.yaml").write_bytes(b"not hashed")
    (rules / "dirlink").symlink_to(tmp_path / "otherdir")
    (rules / "dangling.yaml").symlink_to(tmp_path / "nowhere")
    (rules / "..2026_01_01").mkdir()
    (rules / "..2026_01_01" / "c.yaml").write_bytes(b"internal")
    (rules / "..data").symlink_to("..2026_01_01")
    os.mkfifo(rules / "fifo")
    return tmp_path


def test_digest_matches_hand_computation(tree: Path) -> None:
    rules = tree / "rules"
    cfg = tree / "prometheus.yaml"
    cfg.write_bytes(b"global: {}")
    snap = Snapshotter([str(rules)], [str(cfg)]).snapshot()
    expected = {
        str(cfg): b"global: {}",
        str(rules / "a.yaml"): b"alpha",
        str(rules / "sub" / "b.yaml"): b"beta",
        str(rules / "link.yaml"): b"linked",
    }
    assert snap.digest == by_hand(expected)
    assert dict(snap.files) == {p: hashlib.sha256(c).digest() for p, c in expected.items()}
    assert snap.missing == frozenset()
    assert thanos_digest(snap.files) == thanos_by_hand(expected)


def test_kubelet_volume_hashes_user_visible_names_only(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    KubeletAtomicWriter(vol).write({"prometheus.yaml": b"one", "rules.yaml": b"two"})
    snap = Snapshotter([str(vol)]).snapshot()
    assert sorted(snap.files) == [str(vol / "prometheus.yaml"), str(vol / "rules.yaml")]
    assert snap.digest == by_hand({str(vol / "prometheus.yaml"): b"one", str(vol / "rules.yaml"): b"two"})


def test_missing_paths_are_reported_not_errors(tmp_path: Path) -> None:
    snapper = Snapshotter([str(tmp_path / "nodir")], [str(tmp_path / "nofile")])
    snap = snapper.snapshot()
    assert snap.files == {}
    assert snap.missing == {str(tmp_path / "nodir"), str(tmp_path / "nofile")}
    assert snap.digest == hashlib.sha256().digest()
    (tmp_path / "nofile").write_bytes(b"x")
    snap = snapper.snapshot([str(tmp_path / "nofile")])
    assert snap.missing == {str(tmp_path / "nodir")}
    assert str(tmp_path / "nofile") in snap.files


def test_single_file_hint_rehashes_one_file(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    d.mkdir()
    files = [d / f"r{i}.yaml" for i in range(50)]
    for i, f in enumerate(files):
        f.write_bytes(b"rule %d" % i)
    backdate(*files)
    snapper = Snapshotter([str(d)])
    first = snapper.snapshot()
    assert snapper.stats.files_hashed == 50
    atomic_replace(files[7], b"changed")
    second = snapper.snapshot([str(files[7])])
    assert snapper.stats.files_hashed == 51
    assert second.digest != first.digest
    assert second.files[str(files[7])] == hashlib.sha256(b"changed").digest()
    # a full rescan re-stats everything but rehashes only what changed (r7 is now "racy": 1 more)
    backdate(files[7])
    snapper.snapshot()
    assert snapper.stats.files_hashed == 52
    snapper.snapshot()
    assert snapper.stats.files_hashed == 52
    assert snapper.stats.files_statted >= 50 * 3


def test_racy_files_are_rehashed_even_with_same_identity(tmp_path: Path) -> None:
    f = tmp_path / "cfg"
    f.write_bytes(b"aaaa")
    snapper = Snapshotter([], [str(f)])
    snapper.snapshot()
    snapper.snapshot()
    assert snapper.stats.files_hashed == 2  # mtime is fresh: cache not trusted
    backdate(f)
    snapper.snapshot()
    snapper.snapshot()
    assert snapper.stats.files_hashed == 3


def test_hints_for_deleted_and_new_files_and_dirs(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    (d / "sub").mkdir(parents=True)
    (d / "a").write_bytes(b"a")
    (d / "sub" / "b").write_bytes(b"b")
    snapper = Snapshotter([str(d)])
    snapper.snapshot()
    (d / "a").unlink()
    (d / "new").write_bytes(b"n")
    snap = snapper.snapshot([str(d / "a"), str(d / "new")])
    assert sorted(snap.files) == [str(d / "new"), str(d / "sub" / "b")]
    (d / "sub" / "b").unlink()
    (d / "sub" / "c").write_bytes(b"c")
    snap = snapper.snapshot([str(d / "sub")])
    assert sorted(snap.files) == [str(d / "new"), str(d / "sub" / "c")]
    import shutil

    shutil.rmtree(d / "sub")
    snap = snapper.snapshot([str(d / "sub")])
    assert sorted(snap.files) == [str(d / "new")]
    assert snap.digest == Snapshotter([str(d)]).snapshot().digest
    # hints outside the configured paths are ignored
    assert snapper.snapshot([str(tmp_path / "elsewhere")]).digest == snap.digest


def test_kubelet_internal_hint_means_the_directory(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    writer = KubeletAtomicWriter(vol)
    writer.write({"a.yaml": b"1", "b.yaml": b"2"})
    snapper = Snapshotter([str(vol)])
    snapper.snapshot()
    writer.write({"a.yaml": b"1", "c.yaml": b"3"})
    snap = snapper.snapshot([str(vol / "..data")])
    assert snap.digest == by_hand({str(vol / "a.yaml"): b"1", str(vol / "c.yaml"): b"3"})


def test_unreadable_file_is_a_snapshot_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "secret"
    f.write_bytes(b"x")
    real_open = os.open

    def deny(path: str, flags: int, *args: int) -> int:
        if path == str(f):
            raise PermissionError(13, "Permission denied", path)  # what EACCES gives non-root users
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(SnapshotError) as info:
        Snapshotter([], [str(f)]).snapshot()
    assert info.value.path == str(f)
    assert "Permission denied" in str(info.value)


def test_vanishing_files_mid_walk_never_crash(tmp_path: Path) -> None:
    """A writer thread keeps creating, replacing and deleting files while we snapshot in a loop."""
    d = tmp_path / "rules"
    d.mkdir()
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            p = d / f"f{i % 20}"
            p.write_bytes(b"x" * (i % 7))
            if i % 3 == 0:
                p.unlink(missing_ok=True)
            i += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        snapper = Snapshotter([str(d)])
        for _ in range(200):
            snapper.snapshot()
            snapper.snapshot([str(d / "f1"), str(d / "f2")])
    finally:
        stop.set()
        t.join()
    final = snapper.snapshot()
    assert final.digest == Snapshotter([str(d)]).snapshot().digest


def test_symlinked_root_is_hashed_under_its_configured_path(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "r.yaml").write_bytes(b"same")
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "r.yaml").write_bytes(b"same")
    link = tmp_path / "rules"
    link.symlink_to("v1")
    snapper = Snapshotter([str(link)])
    first = snapper.snapshot()
    assert list(first.files) == [str(link / "r.yaml")]
    tmp = tmp_path / "rules.tmp"
    tmp.symlink_to("v2")
    os.replace(tmp, link)
    assert snapper.snapshot().digest == first.digest  # identical content behind a new target
    (tmp_path / "v2" / "r.yaml").write_bytes(b"different")
    assert snapper.snapshot().digest != first.digest


def test_memory_stays_digest_sized_for_10000_files(tmp_path: Path) -> None:
    import tracemalloc

    d = tmp_path / "many"
    d.mkdir()
    payload = b"x" * 2048
    for i in range(10_000):
        (d / f"r{i:05}.yaml").write_bytes(payload)
    snapper = Snapshotter([str(d)])
    tracemalloc.start()
    snap = snapper.snapshot()
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(snap.files) == 10_000
    # contents would be 20 MB; digests, paths and identities are a few MB at most
    assert current < 8 * 1024 * 1024, current


def test_configured_dir_may_itself_be_a_kubelet_internal_path(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    writer = KubeletAtomicWriter(vol)
    writer.write({"a.yaml": b"1"})
    data = vol / "..data"
    snapper = Snapshotter([str(data)])
    assert list(snapper.snapshot().files) == [str(data / "a.yaml")]
    writer.write({"a.yaml": b"2"})
    snap = snapper.snapshot([str(data / "a.yaml")])
    assert snap.files[str(data / "a.yaml")] == hashlib.sha256(b"2").digest()


def test_earlier_snapshots_keep_their_files_after_later_changes(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    (d / "sub").mkdir(parents=True)
    (d / "a.yaml").write_bytes(b"a0")
    (d / "b.yaml").write_bytes(b"b0")
    (d / "sub" / "c.yaml").write_bytes(b"c0")
    snapper = Snapshotter([str(d)])
    first = snapper.snapshot()
    before = dict(first.files)
    atomic_replace(d / "a.yaml", b"a1")
    (d / "b.yaml").unlink()
    (d / "sub" / "new.yaml").write_bytes(b"n")
    second = snapper.snapshot([str(d / "a.yaml"), str(d / "b.yaml"), str(d / "sub" / "new.yaml")])
    assert dict(first.files) == before  # copy on write: the earlier view did not move
    assert dict(second.files) == {
        str(d / "a.yaml"): hashlib.sha256(b"a1").digest(),
        str(d / "sub" / "c.yaml"): hashlib.sha256(b"c0").digest(),
        str(d / "sub" / "new.yaml"): hashlib.sha256(b"n").digest(),
    }
    assert len(second.files) == 3 and str(d / "b.yaml") not in second.files
    assert dict(second.files.items()) == dict(second.files) and set(second.files) == set(second.files.keys())
    assert second.digest == by_hand(
        {str(d / "a.yaml"): b"a1", str(d / "sub" / "c.yaml"): b"c0", str(d / "sub" / "new.yaml"): b"n"}
    )
    assert second.digest == Snapshotter([str(d)]).snapshot().digest
    with pytest.raises(KeyError):
        second.files[str(d / "b.yaml")]


@pytest.mark.parametrize("loop", ["self", "pair"])
def test_symlink_loop_in_a_watched_dir_is_skipped_like_a_dangling_link(
    tmp_path: Path, loop: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``ln -s loop loop`` (or a -> b -> a) appearing in a watched dir, seen by a hint and by a full
    walk: skipped with a debug line, never a raw ELOOP OSError; gone again when it is removed."""
    import logging

    d = tmp_path / "rules"
    (d / "sub").mkdir(parents=True)
    (d / "a.yaml").write_bytes(b"alpha")
    (d / "dangling.yaml").symlink_to(tmp_path / "nowhere")
    snapper = Snapshotter([str(d)])
    clean = snapper.snapshot()
    assert list(clean.files) == [str(d / "a.yaml")]
    links = [d / "loop"] if loop == "self" else [d / "x", d / "sub" / "y"]
    if loop == "self":
        links[0].symlink_to("loop")
    else:
        links[0].symlink_to(links[1])
        links[1].symlink_to(links[0])
    caplog.set_level(logging.DEBUG, logger="config_reloader.watch.snapshot")
    assert snapper.snapshot([str(p) for p in links]).digest == clean.digest  # hinted
    assert snapper.snapshot().digest == clean.digest  # full walk
    assert Snapshotter([str(d)]).snapshot().digest == clean.digest  # fresh cache
    skipped = {
        r.__dict__.get("cfg_path")
        for r in caplog.records
        if r.getMessage().startswith("skipping symlink loop")
    }
    assert skipped == {str(p) for p in links}
    for p in links:
        p.unlink()
    (d / "b.yaml").write_bytes(b"beta")
    snap = snapper.snapshot([*(str(p) for p in links), str(d / "b.yaml")])
    assert sorted(snap.files) == [str(d / "a.yaml"), str(d / "b.yaml")]


def test_watched_dir_that_becomes_a_symlink_loop_is_missing_like_a_dangling_one(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "r.yaml").write_bytes(b"r")
    link = tmp_path / "rules"
    link.symlink_to("v1")
    snapper = Snapshotter([str(link)])
    assert list(snapper.snapshot().files) == [str(link / "r.yaml")]
    tmp = tmp_path / "rules.tmp"
    tmp.symlink_to("rules")  # after the rename: rules -> rules
    os.replace(tmp, link)
    for hinted in ([str(link)], None):
        snap = snapper.snapshot(hinted)
        assert snap.files == {} and snap.missing == {str(link)}
    link.unlink()
    link.symlink_to("v1")
    snap = snapper.snapshot([str(link)])
    assert list(snap.files) == [str(link / "r.yaml")] and snap.missing == frozenset()


@pytest.mark.parametrize("in_watched_dir", [False, True])
def test_config_file_that_is_a_symlink_loop_is_a_snapshot_error(tmp_path: Path, in_watched_dir: bool) -> None:
    """An extra file (the config file) that is a loop is an error naming it, for a hint and a full
    walk, also when its dir is watched too; the snapshotter recovers when the link is fixed."""
    cfg = tmp_path / "prometheus.yml"
    atomic_replace(cfg, b"v1")
    snapper = Snapshotter([str(tmp_path)] if in_watched_dir else [], [str(cfg)])
    first = snapper.snapshot()
    tmp = tmp_path / "loop.tmp"
    tmp.symlink_to(cfg.name)  # after the rename: prometheus.yml -> prometheus.yml
    os.replace(tmp, cfg)
    for hinted in ([str(cfg)], None):
        with pytest.raises(SnapshotError) as info:
            snapper.snapshot(hinted)
        assert info.value.path == str(cfg)
        assert f"config file {cfg} is a symlink loop" in str(info.value)
        assert "Errno" not in str(info.value)
    cfg.unlink()
    atomic_replace(cfg, b"v1")
    assert snapper.snapshot([str(cfg)]).digest == first.digest
