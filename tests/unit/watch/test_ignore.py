"""Ignore globs (watch/ignore.py) and their use by the Snapshotter: writers' temp files, editor
backups and locks inside watched dirs are not configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config_reloader.atomic import atomic_write
from config_reloader.watch.ignore import DEFAULT_IGNORE_GLOBS, compile_ignore, keep_all
from config_reloader.watch.snapshot import Snapshotter

KEEP = compile_ignore(DEFAULT_IGNORE_GLOBS)


@pytest.mark.parametrize(
    "name",
    [
        ".a.yml.k2j3h4.tmp",
        "a.yml.tmp",
        "a.yml~",
        ".a.yml.swp",
        ".a.yml.swx",
        "4913",
        ".#a.yml",
        ".out.yml.validate-x1.yml",
    ],
)
def test_default_globs_drop_writer_and_editor_files(name: str) -> None:
    assert not KEEP(f"/etc/rules/{name}")


@pytest.mark.parametrize(
    "name", ["a.yml", ".hidden.yml", "a.yml.new", "tmp", "a.tmp.yml", "49130", "A.YML~x"]
)
def test_default_globs_keep_config_names(name: str) -> None:
    assert KEEP(f"/etc/rules/{name}")


def test_empty_globs_keep_everything_and_bad_globs_are_refused() -> None:
    assert compile_ignore(()) is keep_all
    with pytest.raises(ValueError, match="base-name"):
        compile_ignore(["rules/*.tmp"])
    with pytest.raises(ValueError):
        compile_ignore([""])


def test_snapshot_leaves_ignored_names_out_of_walks_and_hints(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "a.yml").write_bytes(b"a")
    plain = Snapshotter([str(d)], path_filter=KEEP).snapshot()
    (d / "a.yml.tmp").write_bytes(b"temp")
    (d / "a.yml~").write_bytes(b"backup")
    (d / "x.tmp").mkdir()  # an ignored directory: nothing below it counts
    (d / "x.tmp" / "b.yml").write_bytes(b"b")
    s = Snapshotter([str(d)], path_filter=KEEP)
    full = s.snapshot()
    assert set(full.files) == {str(d / "a.yml")}
    assert full.digest == plain.digest
    hinted = s.snapshot([str(d / "a.yml.tmp"), str(d / "x.tmp" / "b.yml"), str(d / "a.yml~")])
    assert hinted.digest == plain.digest
    atomic_write(str(d / "a.yml"), b"a2")
    assert set(s.snapshot([str(d / "a.yml")]).files) == {str(d / "a.yml")}
    # without a filter (Thanos' digest) they all count
    assert len(Snapshotter([str(d)]).snapshot().files) == 4


def test_config_file_itself_is_never_ignored(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml.tmp"
    cfg.write_bytes(b"c")
    s = Snapshotter([], [str(cfg)], path_filter=KEEP)
    assert set(s.snapshot().files) == {str(cfg)}
    assert set(s.snapshot([str(cfg)]).files) == {str(cfg)}
    os.unlink(cfg)
