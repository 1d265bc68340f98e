"""render: gzip by magic bytes, $(VAR) expansion like Thanos, validate hook, write-if-changed."""

from __future__ import annotations

import gzip
import os
import stat
import sys
from pathlib import Path

import pytest

from config_reloader.errors import EnvExpansionError, GzipError, RenderError, ValidationFailed
from config_reloader.render import expand_env, render_bytes, render_file, render_file_async, validate_argv

ENV = {"POD_NAME": "prom-0", "SHARD": "3", "EMPTY": ""}


def test_expansion_is_thanos_syntax_only() -> None:
    raw = b"a: $(POD_NAME) b: $POD_NAME c: ${POD_NAME} d: $$(SHARD) e: $(EMPTY)| f: $(X-Y) g: $(_9)"
    out, unset = expand_env(raw, ENV)
    assert out == b"a: prom-0 b: $POD_NAME c: ${POD_NAME} d: $3 e: | f: $(X-Y) g: $(_9)"
    assert unset == ("_9",)


def test_expansion_is_single_pass() -> None:
    out, unset = expand_env(b"$(A)", {"A": "$(B)", "B": "no"})
    assert out == b"$(B)"
    assert unset == ()


def test_strict_lists_every_unset_name() -> None:
    with pytest.raises(EnvExpansionError) as info:
        render_bytes(b"$(ZZ) $(POD_NAME) $(AA) $(ZZ)", source="/cfg", env=ENV, strict_env=True)
    assert info.value.names == ("AA", "ZZ")
    assert info.value.path == "/cfg"
    assert "AA, ZZ" in str(info.value)


def test_tolerant_keeps_references_verbatim() -> None:
    r = render_bytes(b"x: $(NOPE) y: $(SHARD)", source="/cfg", env=ENV, strict_env=False)
    assert r.data == b"x: $(NOPE) y: 3"
    assert r.unset_vars == ("NOPE",)
    assert not r.source_gzip


def test_gzip_detected_by_magic_bytes_not_name() -> None:
    r = render_bytes(gzip.compress(b"replica: $(POD_NAME)"), source="/cfg.yaml", env=ENV, strict_env=True)
    assert r.data == b"replica: prom-0"
    assert r.source_gzip


def test_corrupt_gzip_names_the_path() -> None:
    bad = gzip.compress(b"hello world" * 100)[:30]
    with pytest.raises(GzipError) as info:
        render_bytes(bad, source="/etc/prometheus.yaml.gz", env={}, strict_env=False)
    assert info.value.path == "/etc/prometheus.yaml.gz"
    assert "/etc/prometheus.yaml.gz" in str(info.value)
    with pytest.raises(GzipError):
        render_bytes(b"\x1f\x8bnot gzip at all", source="/x", env={}, strict_env=False)


def test_validate_argv_placeholder() -> None:
    assert validate_argv(["promtool", "check", "config", "{}"], "/t") == ["promtool", "check", "config", "/t"]
    assert validate_argv(["sh", "-c", "cat {} >/dev/null"], "/t") == ["sh", "-c", "cat /t >/dev/null"]
    assert validate_argv(["check"], "/t") == ["check", "/t"]


def write(p: Path, data: bytes, mode: int = 0o644) -> Path:
    p.write_bytes(data)
    p.chmod(mode)
    return p


def test_render_file_writes_only_when_bytes_differ(tmp_path: Path) -> None:
    src = write(tmp_path / "in.yaml.gz", gzip.compress(b"name: $(POD_NAME)\n"), 0o640)
    out = tmp_path / "out" / "prometheus.env.yaml"
    out.parent.mkdir()
    r = render_file(str(src), str(out), env=ENV, strict_env=False)
    assert r.written and out.read_bytes() == b"name: prom-0\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # new output: the input's mode
    inode = out.stat().st_ino
    out.chmod(0o600)
    r = render_file(str(src), str(out), env=ENV, strict_env=False)
    assert not r.written
    assert out.stat().st_ino == inode  # no needless rename
    write(src, b"name: $(SHARD)\n", 0o644)
    assert render_file(str(src), str(out), env=ENV, strict_env=False).written
    assert out.read_bytes() == b"name: 3\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # existing output keeps its own mode
    assert sorted(p.name for p in out.parent.iterdir()) == ["prometheus.env.yaml"]


def test_validate_pass_and_fail_keep_old_output(tmp_path: Path) -> None:
    src = write(tmp_path / "in.yaml", b"good\n")
    out = tmp_path / "out.yaml"
    checker = [
        sys.executable,
        "-c",
        "import sys; d=open(sys.argv[1]).read(); print('saw', d.strip()); sys.exit(d != 'good\\n')",
        "{}",
    ]
    assert render_file(str(src), str(out), env={}, strict_env=False, validate_command=checker).written
    write(src, b"bad\n")
    with pytest.raises(ValidationFailed) as info:
        render_file(str(src), str(out), env={}, strict_env=False, validate_command=checker)
    assert info.value.returncode == 1
    assert "saw bad" in info.value.output
    assert out.read_bytes() == b"good\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.yaml", "out.yaml"]  # candidate removed


def test_validate_timeout_and_missing_program(tmp_path: Path) -> None:
    src = write(tmp_path / "in.yaml", b"x")
    out = tmp_path / "out.yaml"
    with pytest.raises(ValidationFailed, match="did not finish"):
        render_file(
            str(src),
            str(out),
            env={},
            strict_env=False,
            validate_command=[sys.executable, "-c", "import time; time.sleep(30)", "{}"],
            validate_timeout=0.5,
        )
    with pytest.raises(ValidationFailed, match="cannot run"):
        render_file(str(src), str(out), env={}, strict_env=False, validate_command=["/nonexistent/validator"])
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.yaml"]


def test_errors_leave_previous_output(tmp_path: Path) -> None:
    out = write(tmp_path / "out.yaml", b"previous")
    with pytest.raises(RenderError):
        render_file(str(tmp_path / "missing"), str(out), env={}, strict_env=False)
    src = write(tmp_path / "in.yaml", b"$(UNSET_FOR_TEST)")
    with pytest.raises(EnvExpansionError):
        render_file(str(src), str(out), env={}, strict_env=True)
    write(src, b"\x1f\x8b garbage")
    with pytest.raises(GzipError):
        render_file(str(src), str(out), env={}, strict_env=False)
    assert out.read_bytes() == b"previous"


def test_render_only_without_output(tmp_path: Path) -> None:
    src = write(tmp_path / "in.yaml", b"$(SHARD)")
    r = render_file(str(src), None, env=ENV, strict_env=True)
    assert r.data == b"3" and not r.written


async def test_async_variant(tmp_path: Path) -> None:
    src = write(tmp_path / "in.yaml", b"$(SHARD)")
    out = tmp_path / "out"
    r = await render_file_async(str(src), str(out), env=ENV, strict_env=True, validate_command=["test", "-s"])
    assert r.written and out.read_bytes() == b"3"
    assert sorted(os.listdir(tmp_path)) == ["in.yaml", "out"]  # validate candidate removed


def test_source_digest_matches_the_snapshot_of_the_input(tmp_path: Path) -> None:
    import hashlib

    from config_reloader.watch.snapshot import Snapshotter

    raw = gzip.compress(b"a: $(SHARD)")
    src = write(tmp_path / "in.yaml.gz", raw)
    r = render_file(str(src), None, env=ENV, strict_env=True)
    assert r.source_digest == hashlib.sha256(raw).digest()
    written = render_file(str(src), str(tmp_path / "out"), env=ENV, strict_env=True)
    assert written.written and written.source_digest == r.source_digest
    assert Snapshotter([], [str(src)]).snapshot().files[str(src)] == r.source_digest


def test_render_without_write_validates_next_to_the_output_and_writes_later(tmp_path: Path) -> None:
    from config_reloader.render import write_output

    src = tmp_path / "in.yml"
    src.write_bytes(b"a: $(A)\n")
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "out.yml"
    checker = ["sh", "-c", f'test "$(dirname "$1")" = "{outdir}"', "sh", "{}"]
    r = render_file(
        str(src), str(out), env={"A": "1"}, strict_env=False, validate_command=checker, write=False
    )
    assert not out.exists() and not r.written
    assert os.listdir(outdir) == []  # the candidate is gone
    assert write_output(str(out), r, new_mode=0o640).written
    assert out.read_bytes() == b"a: 1\n" and (out.stat().st_mode & 0o777) == 0o640
    assert not write_output(str(out), r).written  # same bytes: not rewritten


def test_no_digest_when_the_caller_compares_nothing(tmp_path: Path) -> None:
    """The one-shot render asks for no source_digest (hashlib would load OpenSSL for it); the
    output is the same."""
    import hashlib

    src = tmp_path / "in.yml"
    src.write_bytes(b"pod: $(POD)\n")
    with_digest = render_file(str(src), str(tmp_path / "a.yml"), env={"POD": "p-1"}, strict_env=False)
    without = render_file(
        str(src), str(tmp_path / "b.yml"), env={"POD": "p-1"}, strict_env=False, digest=False
    )
    assert (
        without.source_digest == b""
        and with_digest.source_digest == hashlib.sha256(src.read_bytes()).digest()
    )
    assert without.data == with_digest.data == b"pod: p-1\n" and without.written
    assert (tmp_path / "b.yml").read_bytes() == b"pod: p-1\n"
